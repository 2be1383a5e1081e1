#!/usr/bin/env node
/**
 * Checks every backend package against the template in packages/core/BACKEND.md: the role files
 * exist, any other file is listed there with its reason, the toolkit comes only from
 * `@resultstore/core/backend`, no `store.ts` is over 250 lines and all six `src` together stay
 * within 6,000 lines. Exits 1 with one line per breach.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ROLES = [
  "index.ts",
  "types.ts",
  "config.ts",
  "errors.ts",
  "records.ts",
  "client.ts",
  "counters.ts",
  "store.ts",
];
/** Roles a backend has once it implements the optional part of the contract they hold. */
const OPTIONAL_ROLES = ["find.ts"];
const MAX_STORE_LINES = 250;
/**
 * The template roles of all six backends together: 6,000 when issue 25 folded their repetition
 * into core, plus 100 per backend for what `find` needs outside find.ts (its field in the record,
 * the indexes provisioned).
 */
const MAX_SRC_LINES = 6600;
/** One backend's find.ts: a native query and its paging, not a second backend. */
const MAX_FIND_LINES = 350;

const template = readFileSync(join(ROOT, "packages/core/BACKEND.md"), "utf8");
const core = readFileSync(join(ROOT, "packages/core/src/index.ts"), "utf8");

/** `backend → Set(file)` from the template's extra-files table. */
function listedExtras() {
  const table = template
    .split("<!-- extra-files: start -->")[1]
    ?.split("<!-- extra-files: end -->")[0];
  if (table === undefined) throw new Error("BACKEND.md has no extra-files table");
  const extras = new Map();
  for (const line of table.split("\n")) {
    const cells = line.split("|").map((cell) => cell.trim().replace(/`/g, ""));
    const [, backend, file, why] = cells;
    if (!backend || !file || backend === "backend" || /^-+$/.test(backend)) continue;
    if (!why) throw new Error(`BACKEND.md lists ${backend}/${file} without a reason`);
    if (!extras.has(backend)) extras.set(backend, new Set());
    extras.get(backend).add(file);
  }
  return extras;
}

/** The names `@resultstore/core` exports (the user API); anything else is the toolkit's. */
function userApiNames() {
  const names = new Set();
  for (const [, block] of core.matchAll(/export (?:type )?\{([^}]*)\}/g)) {
    for (const item of block.split(",")) {
      const name = item
        .replace(/\btype\b/, "")
        .trim()
        .split(/\s+as\s+/)
        .pop();
      if (name) names.add(name);
    }
  }
  for (const [, name] of core.matchAll(/export (?:async )?function (\w+)/g)) names.add(name);
  // `export * from "./states.js"`: every name that module declares.
  for (const [, module] of core.matchAll(/export (?:type )?\* from "\.\/([\w-]+)\.js"/g)) {
    const text = readFileSync(join(ROOT, "packages/core/src", `${module}.ts`), "utf8");
    const declared = /export (?:declare )?(?:const|function|class|interface|type|enum) (\w+)/g;
    for (const [, name] of text.matchAll(declared)) names.add(name);
  }
  return names;
}

const problems = [];
const extras = listedExtras();
const userApi = userApiNames();
let totalLines = 0;
const backends = readdirSync(join(ROOT, "packages")).filter((dir) => dir.startsWith("backend-"));
for (const dir of backends) {
  const backend = dir.slice("backend-".length);
  const src = join(ROOT, "packages", dir, "src");
  const files = readdirSync(src).filter((file) => file.endsWith(".ts"));
  for (const role of ROLES) {
    if (!files.includes(role))
      problems.push(`${dir}: no src/${role} (BACKEND.md: every backend has it)`);
  }
  for (const file of files) {
    if (
      !ROLES.includes(file) &&
      !OPTIONAL_ROLES.includes(file) &&
      !extras.get(backend)?.has(file)
    ) {
      problems.push(
        `${dir}: src/${file} is not a template role nor listed in BACKEND.md's extra files`,
      );
    }
    const text = readFileSync(join(src, file), "utf8");
    const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    if (file === "find.ts" && lines > MAX_FIND_LINES)
      problems.push(`${dir}: src/find.ts has ${lines} lines (at most ${MAX_FIND_LINES})`);
    else if (file !== "find.ts") totalLines += lines;
    if (file === "store.ts" && lines > MAX_STORE_LINES) {
      problems.push(`${dir}: src/store.ts has ${lines} lines (at most ${MAX_STORE_LINES})`);
    }
    for (const [, block] of text.matchAll(
      /import (?:type )?\{([^}]*)\} from "@resultstore\/core";/g,
    )) {
      for (const item of block.split(",")) {
        const name = item
          .replace(/\btype\b/, "")
          .trim()
          .split(/\s+as\s+/)[0];
        if (name && !userApi.has(name)) {
          problems.push(
            `${dir}: src/${file} imports ${name} from @resultstore/core, not from @resultstore/core/backend`,
          );
        }
      }
    }
  }
}
for (const [backend, files] of extras) {
  if (!backends.includes(`backend-${backend}`))
    problems.push(`BACKEND.md lists files of unknown backend ${backend}`);
  for (const file of files) {
    try {
      readFileSync(join(ROOT, "packages", `backend-${backend}`, "src", file));
    } catch {
      problems.push(`BACKEND.md lists backend-${backend}/src/${file}, which does not exist`);
    }
  }
}
if (totalLines > MAX_SRC_LINES) {
  problems.push(`the backends' src hold ${totalLines} lines together (at most ${MAX_SRC_LINES})`);
}
if (problems.length > 0) {
  for (const problem of problems) console.error(`backend template: ${problem}`);
  process.exit(1);
}
console.log(
  `backend template: ${backends.length} backends follow BACKEND.md (${totalLines} src lines in the roles)`,
);
