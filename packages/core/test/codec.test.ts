import { describe, expect, it } from "vitest";
import {
  DecodeError,
  decodeJson,
  EncodeError,
  encodeJson,
  PyDate,
  PyDecimal,
  PyTime,
  PyUUID,
} from "../src/index.js";

// Expected texts are what CPython 3.11's json.dumps printed for the same values (kombu uses it).
describe("encodeJson matches Python's json.dumps byte for byte", () => {
  it.each([
    [{ a: 1, b: [1, 2.5, null, true], c: "x" }, '{"a": 1, "b": [1, 2.5, null, true], "c": "x"}'],
    [
      'snow \u2603 clef \u{1D11E} e\u0301 tab\t nl\n quote" bs\\ del\u007f ctrl\u0001',
      '"snow \\u2603 clef \\ud834\\udd1e e\\u0301 tab\\t nl\\n quote\\" bs\\\\ del\\u007f ctrl\\u0001"',
    ],
    [
      [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY],
      "[NaN, Infinity, -Infinity]",
    ],
    [{ nested: { deep: [[], {}] } }, '{"nested": {"deep": [[], {}]}}'],
    [123456789012345678901234567890n, "123456789012345678901234567890"],
  ])("case %#", (value, python) => {
    expect(encodeJson(value)).toBe(python);
  });
});

describe("kombu type markers", () => {
  it("writes a Date as kombu's datetime marker with +00:00", () => {
    expect(encodeJson(new Date("2024-05-01T12:00:00.123Z"))).toBe(
      '{"__type__": "datetime", "__value__": "2024-05-01T12:00:00.123000+00:00"}',
    );
    expect(encodeJson(new Date("2024-05-01T12:00:00Z"))).toBe(
      '{"__type__": "datetime", "__value__": "2024-05-01T12:00:00+00:00"}',
    );
  });

  it("writes UTF-8 bytes as bytes and other bytes as base64", () => {
    expect(encodeJson(Buffer.from("héllo"))).toBe(
      '{"__type__": "bytes", "__value__": "h\\u00e9llo"}',
    );
    expect(encodeJson(Buffer.from([0xff, 0x00]))).toBe(
      '{"__type__": "base64", "__value__": "/wA="}',
    );
  });

  it("round-trips every type Celery knows", () => {
    const value = {
      when: new Date("2024-05-01T12:00:00.500Z"),
      day: new PyDate("2024-05-01"),
      time: new PyTime("12:00:00.500000"),
      price: new PyDecimal("10.05"),
      id: new PyUUID("12345678-1234-5678-1234-567812345678"),
      raw: Buffer.from([1, 2, 255]),
    };
    expect(decodeJson(encodeJson(value))).toEqual(value);
  });

  it("reads kombu 5.3.0's uuid marker with a version field", () => {
    const uuid = decodeJson(
      '{"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678", "version": 4}}',
    );
    expect(String(uuid)).toBe("12345678-1234-5678-1234-567812345678");
  });

  it("rejects an unknown marker, as kombu does", () => {
    expect(() => decodeJson('{"__type__": "frozenset", "__value__": [1]}')).toThrow(DecodeError);
  });

  it("never emits a plain object that kombu would read as a marker", () => {
    expect(() => encodeJson({ __type__: "datetime", __value__: "x" })).toThrow(EncodeError);
    expect(encodeJson({ __type__: "x", __value__: 1, other: 2 })).toBe(
      '{"__type__": "x", "__value__": 1, "other": 2}',
    );
  });
});

describe("decodeJson", () => {
  it("accepts Python's NaN and Infinity and keeps big integers exact", () => {
    const value = decodeJson("[NaN, Infinity, -Infinity, 9007199254740993, 1.5e300]") as unknown[];
    expect(Number.isNaN(value[0])).toBe(true);
    expect(value.slice(1)).toEqual([
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      9007199254740993n,
      1.5e300,
    ]);
  });

  it("treats a __proto__ key as data", () => {
    const value = decodeJson('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  // decodeJson reads most texts with JSON.parse and applies kombu's hook afterwards; these pin
  // what that fast path must still do exactly as the full parser does.
  it("decodes a marker whose keys are spelled with \\u escapes", () => {
    const value = decodeJson('[{"\\u005f_type__": "decimal", "__valu\\u0065__": "1.50"}]');
    expect(value).toEqual([new PyDecimal("1.50")]);
  });

  it("decodes markers nested under a __proto__ key without touching the prototype", () => {
    const value = decodeJson(
      '{"__proto__": {"__type__": "decimal", "__value__": "2"}, "name": "caf\\u00e9"}',
    ) as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(value, "__proto__")?.value).toEqual(new PyDecimal("2"));
    expect(value.name).toBe("café");
  });

  it("keeps an unsafe integer exact next to ordinary values", () => {
    expect(decodeJson('{"id": 12345678901234567890, "ok": true}')).toEqual({
      id: 12345678901234567890n,
      ok: true,
    });
    expect(decodeJson("[9007199254740991, 0.1]")).toEqual([9007199254740991, 0.1]);
  });

  it.each(["", "{", '{"a" 1}', "[1,]", "nul", '"\\x"', "1 2"])("rejects malformed %j", (text) => {
    expect(() => decodeJson(text)).toThrow(DecodeError);
  });
});

describe("encodeJson refuses what Python could not read", () => {
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  it.each([
    ["a circular object", circular],
    ["a function", () => 1],
    ["a symbol", Symbol("x")],
    ["a Map", new Map()],
    ["an invalid Date", new Date(Number.NaN)],
  ])("%s", (_, value) => {
    expect(() => encodeJson(value)).toThrow(EncodeError);
  });

  it("names where the bad value is", () => {
    expect(() => encodeJson({ rows: [1, { when: new Date(Number.NaN) }] })).toThrow(
      "Invalid Date at $.rows[1].when.",
    );
    expect(() => encodeJson({ a: { self: circular } })).toThrow(
      "Circular reference at $.a.self.self.",
    );
  });

  it("uses toJSON like kombu's __json__ hook", () => {
    expect(encodeJson({ v: { toJSON: () => [1, 2] } })).toBe('{"v": [1, 2]}');
  });
});
