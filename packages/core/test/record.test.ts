/** The write-size rule: `measureWrite` sums the meta's length field by field; it must equal the text. */
import { describe, expect, it } from "vitest";
import { applyWrite, encodeMeta, measureWrite } from "../src/backend.js";
import {
  EncodeError,
  encodeJson,
  MemoryBackend,
  PyDecimal,
  type TaskRecord,
  type TaskWrite,
} from "../src/index.js";

const base = (over: Partial<TaskWrite> = {}): TaskWrite => {
  const result = over.result === undefined ? { rows: [1, "two", null] } : over.result;
  return {
    taskId: "t-1",
    status: "SUCCESS",
    result,
    resultJson: encodeJson(result),
    traceback: null,
    dateDone: new Date(Date.UTC(2024, 4, 1, 12, 0, 0, 123)),
    updatedAt: new Date(Date.UTC(2024, 4, 1, 12, 0, 0, 123)),
    expiresAt: null,
    ...over,
  };
};

/** What measureWrite replaced: the meta text of the record the write makes from nothing. */
const textLength = (write: TaskWrite) =>
  encodeMeta(applyWrite(null, write) as TaskRecord, { resultJson: write.resultJson }).length;

describe("measureWrite", () => {
  const writes: [string, TaskWrite][] = [
    ["a plain success", base()],
    ["no date, milliseconds 0, a traceback", base({ status: "FAILURE", traceback: "Trace\n  é" })],
    ["a whole-second date", base({ dateDone: new Date(Date.UTC(2024, 0, 1)) })],
    ["a five-digit year", base({ dateDone: new Date(Date.UTC(12345, 0, 1, 0, 0, 0, 5)) })],
    ["no date_done", base({ status: "STARTED", dateDone: null })],
    ["children and group/parent", base({ children: [["c", null]], groupId: "g", parentId: "p" })],
    ["one extended field", base({ name: "tasks.add" })],
    ["null extended fields only", base({ name: null, queue: null })],
    [
      "every extended field",
      base({ name: "n", args: [1, 2], kwargs: { k: "v" }, worker: "w@h", retries: 2, queue: "q" }),
    ],
    ["metadata", base({ metadata: { tenant: "acme", nested: { ü: [1.5, true] } } })],
    ["empty metadata", base({ metadata: {} })],
    ["non-ASCII id", base({ taskId: "täsk-☃" })],
    ["a Decimal marker", base({ metadata: { price: new PyDecimal("1.10") } })],
  ];
  for (const [what, write] of writes) {
    it(`equals the meta text's length: ${what}`, () => {
      expect(measureWrite(write)).toBe(textLength(write));
    });
  }

  it("rejects metadata Python could not read with EncodeError", () => {
    expect(() => measureWrite(base({ metadata: { f: () => 1 } }))).toThrow(EncodeError);
    expect(() => measureWrite(base({ args: [Symbol("s")] }))).toThrow(EncodeError);
  });
});

describe("MemoryBackend refusal", () => {
  it("refuses a late STARTED after SUCCESS and keeps the stored record", async () => {
    const backend = new MemoryBackend();
    await backend.write(base({ metadata: { a: 1 } }));
    const late = base({
      status: "STARTED",
      result: { pid: 1 },
      dateDone: null,
      metadata: { b: 2 },
    });
    expect(await backend.write(late)).toEqual({ applied: false });
    const stored = await backend.read("t-1");
    expect(stored?.status).toBe("SUCCESS");
    expect(stored?.metadata).toEqual({ a: 1 });
  });

  it("lets a write through over an expired SUCCESS (expired counts as absent)", async () => {
    const backend = new MemoryBackend();
    await backend.write(base({ expiresAt: new Date(Date.now() - 1000) }));
    const next = base({ status: "STARTED", result: null, dateDone: null });
    expect(await backend.write(next)).toEqual({ applied: true });
    expect((await backend.read("t-1"))?.status).toBe("STARTED");
  });

  it("readMany answers in order, null for unknown ids", async () => {
    const backend = new MemoryBackend();
    await backend.write(base());
    const records = await backend.readMany(["nope", "t-1"]);
    expect(records.map((r) => r?.status ?? null)).toEqual([null, "SUCCESS"]);
  });
});
