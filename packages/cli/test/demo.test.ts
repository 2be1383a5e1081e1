import { describe, expect, it } from "vitest";
import { runConformance, runDemo } from "../src/index.js";

describe("resultstore demo", () => {
  it("tells the story: metadata kept, late STARTED refused, chord fired once", async () => {
    const lines: string[] = [];
    await runDemo("memory://", (line) => lines.push(line));
    const out = lines.join("\n");
    expect(out).toMatch(/duplicate STARTED after SUCCESS .*: refused, state stays SUCCESS/);
    expect(out).toMatch(/callback fired 1 time\b/);
    expect(out).toMatch(/SUCCESS .*"tenant":"acme","requestedBy":"ana"/);
    expect(out).toMatch(/FAILURE .*cat\.png not found/);
    expect(out).toMatch(/chord\.sum\s+SUCCESS\s+60/);
  });
});

describe("resultstore conformance", () => {
  it("runs the whole suite against a URL and reports a closing count", async () => {
    const lines: string[] = [];
    expect(await runConformance("memory://", (line) => lines.push(line))).toBe(true);
    expect(lines.at(-1)).toMatch(/^\d+ passed, 0 failed$/);
  }, 120_000);
});
