export {
  BENCH_PAYLOAD,
  type BenchRow,
  benchStore,
  type Measurement,
  measure,
  runBench,
} from "./bench.js";
export { type CleanupReport, runCleanup } from "./cleanup.js";
export { type Command, type OptionSpec, type Parsed, UsageError } from "./command.js";
export {
  type ConformanceOutput,
  type ConformanceReport,
  runConformance,
} from "./conformance.js";
export { type Dashboard, type DashboardOptions, startDashboard } from "./dashboard/server.js";
export { runDemo } from "./demo.js";
export { describeError, hintFor } from "./hints.js";
export { runInspect } from "./inspect.js";
export { type CliIo, processIo } from "./io.js";
export { type LsOptions, runLs } from "./ls.js";
export { COMMANDS, cliVersion, EXIT, runCli, usage } from "./main.js";
export {
  formatProgress,
  type Progress,
  type ProgressOptions,
  type ProgressSink,
  type ProgressSummary,
  progressSink,
  startProgress,
} from "./progress.js";
export { displayUrl, maskSecrets } from "./secrets.js";
export { runStats, type StatsReport } from "./stats.js";
export { MEMORY_NOTE, type StoreChoice } from "./store.js";
export { brief, renderTable } from "./table.js";
export { runUi, TOKEN_ENV, type UiOptions } from "./ui.js";
export { runWatch, type WatchOptions } from "./watch.js";
