// find_position sorts as core's order: DynamoDB compares string keys by UTF-8 bytes.
import { comparePositions } from "@resultstore/core/backend";
import { describe, expect, it } from "vitest";
import { findPosition } from "../../src/records.js";

const bytes = (text: string) => Buffer.from(text, "utf8");

describe("findPosition", () => {
  it("orders positions by UTF-8 bytes exactly as core's comparePositions does", () => {
    // Above U+FFFF against U+E000–U+FFFF is where UTF-16 order and code point order differ.
    const ids = ["a", "b", "ab", "\u{E000}", "\u{FFFD}", "\u{1F600}", "é", "Z", "a#b", ""];
    const times = [null, new Date(0), new Date(1), new Date(999), new Date(1_718_000_000_123)];
    const positions = times.flatMap((time) => ids.map((taskId) => ({ time, taskId })));
    for (const a of positions) {
      for (const b of positions) {
        const byBytes = Math.sign(
          Buffer.compare(
            bytes(findPosition(a.time, a.taskId)),
            bytes(findPosition(b.time, b.taskId)),
          ),
        );
        expect(byBytes, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`).toBe(
          Math.sign(comparePositions(a, b)),
        );
      }
    }
  });
});
