export type { ConformanceOptions, RawRecord, SuiteGroup, TestApi, TestBody } from "./api.js";
export { createRunner, type Runner, type TestResult } from "./runner.js";
export { configurationErrorText, SECRET_MARK, UNENCODED_SECRETS } from "./secrets.js";
export { type ServerTarget, serverTarget } from "./servers.js";
export * from "./suite/index.js";
