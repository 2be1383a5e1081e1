export type {
  ConformanceOptions,
  RawRecord,
  SuiteGroup,
  TestApi,
  TestBody,
  TestContext,
} from "./api.js";
export { type LoseAnswer, loseOneAnswer, TcpProxy } from "./proxy.js";
export { createRunner, type Runner, type TestResult } from "./runner.js";
export { configurationErrorText, SECRET_MARK, UNENCODED_SECRETS } from "./secrets.js";
export { type ServerTarget, serverTarget } from "./servers.js";
export * from "./suite/index.js";
