// DB-free checks of the keyword terms `find` matches metadata by (records.ts `metadataTerm`).
import { describe, expect, it } from "vitest";
import { metadataTerm, metadataTerms } from "../../src/records.js";

describe("metadata terms", () => {
  it("keep the type: a number, its text and a boolean are three terms", () => {
    const terms = [metadataTerm("k", 42), metadataTerm("k", "42"), metadataTerm("k", true)];
    expect(new Set(terms).size).toBe(3);
    expect(metadataTerm("k", "true")).not.toBe(metadataTerm("k", true));
  });

  it("are one term for equal numbers (42 and 42.0, 0 and -0), another for others", () => {
    expect(metadataTerm("k", 42)).toBe(metadataTerm("k", 42.0));
    expect(metadataTerm("k", -0)).toBe(metadataTerm("k", 0));
    expect(metadataTerm("k", 1.5)).not.toBe(metadataTerm("k", 1.25));
    expect(metadataTerm("k", 42)).toBe("k\u0000n4045000000000000");
  });

  it("begin with the key, then NUL (which core refuses in keys): the key always ends there", () => {
    const term = metadataTerm("a=s:b", "c=d") as string;
    expect(term.slice(0, term.indexOf("\u0000"))).toBe("a=s:b");
  });

  it("are a digest past 256 bytes, and none for values find never matches", () => {
    const long = metadataTerm("k", "é".repeat(200)) as string;
    expect(long).toMatch(/^#[0-9a-f]{64}$/);
    expect(metadataTerm("k", "é".repeat(201))).not.toBe(long);
    for (const value of [
      [1],
      { a: 1 },
      null,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      2 ** 60,
      10n,
      new Date(0),
    ])
      expect(metadataTerm("k", value)).toBeNull();
    expect(metadataTerms({ a: "x", b: [1], c: 2 })).toEqual([
      metadataTerm("a", "x"),
      metadataTerm("c", 2),
    ]);
  });
});
