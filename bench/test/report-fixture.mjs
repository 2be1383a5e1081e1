// The frame of an `--all` run's report, for tests that render one: what `renderResults` reads
// besides the per-backend results and the scale runs a test gives it.
export const runReport = ({ results = [], scale = [], engines = {} } = {}) => ({
  command: "npm run bench -- --all",
  started: "2026-12-07T00:00:00.000Z",
  seconds: 10,
  rounds: 3,
  maxSeconds: 1,
  counts: { 1: 400, 64: 4000 },
  engines,
  versions: { node: "v20.19.0" },
  results,
  scale,
});
