/**
 * The column "with resultstore-celery" of the worker table in packages/celery-producer/README.md
 * (the table whose other columns celery-producer's worker test writes): the cell after its seven,
 * one per database row, written from what test/worker.test.ts saw.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PACKAGE_DIR } from "./env.js";

const README = join(PACKAGE_DIR, "..", "celery-producer", "README.md");
const START = "<!-- e2e-table:start -->";
const END = "<!-- e2e-table:end -->";
const OWN_CELLS = 7; // celery-producer's; ours is the next one

const cellsOf = (row: string) => row.replace(/^\| | \|$/g, "").split(" | ");

function table() {
  const text = readFileSync(README, "utf8");
  const start = text.indexOf(START) + START.length;
  const end = text.indexOf(END);
  if (start < START.length || end < start) throw new Error(`${README} has no ${START} … ${END}`);
  return { text, start, end, lines: text.slice(start, end).trim().split("\n") };
}

/** The "with resultstore-celery" cell of the row for `database`, or undefined. */
export function readmeCell(database: string): string | undefined {
  const row = table().lines.find((line) => line.startsWith(`| ${database} |`));
  return row ? cellsOf(row)[OWN_CELLS] : undefined;
}

/** Writes the cell (RESULTSTORE_UPDATE_README=1). */
export function writeReadmeCell(database: string, cell: string): void {
  const { text, start, end, lines } = table();
  const i = lines.findIndex((line) => line.startsWith(`| ${database} |`));
  if (i < 0) throw new Error(`no row for ${database} in ${README}`);
  const cells = cellsOf(lines[i] as string).slice(0, OWN_CELLS);
  lines[i] = `| ${[...cells, cell.replaceAll("|", "\\|")].join(" | ")} |`;
  writeFileSync(README, `${text.slice(0, start)}\n${lines.join("\n")}\n${text.slice(end)}`);
}
