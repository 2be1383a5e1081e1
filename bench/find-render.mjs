// `node bench/find-render.mjs RUN.json… [--out bench/RESULTS.md]`: RESULTS.md's "Find at scale"
// section from bench/find.mjs's `--json` files (one backend each, in the order given), put in
// place of the section there or before "## Notes". The rest of the file is left as it is.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { renderFindSection, withFindSection } from "./lib/find-report.mjs";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: "string", default: fileURLToPath(new URL("RESULTS.md", import.meta.url)) },
  },
});
if (positionals.length === 0) {
  console.error("usage: node bench/find-render.mjs RUN.json… [--out bench/RESULTS.md]");
  process.exit(2);
}
const runs = positionals.map((file) => JSON.parse(readFileSync(file, "utf8")));
const intro = [
  '`find({state: "FAILURE", metadata: {tenant: "t7"}}, {limit: 100})` (its first page, and its second by the cursor) and `countByState({metadata: {tenant: "t7"}})` beside the hand-written native query on the same index, after checking that both return the same task ids in the same order and the same counts; then the find indexes\' write cost. `bench/find.mjs`, one backend per process; how the records are made and what each native query is: bench/NOTES.md, "Find at scale".',
  "",
];
writeFileSync(
  values.out,
  withFindSection(readFileSync(values.out, "utf8"), renderFindSection(runs, intro)),
);
console.error(`[find] wrote the find section of ${values.out}`);
