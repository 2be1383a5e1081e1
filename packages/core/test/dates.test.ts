import { describe, expect, it } from "vitest";
import { formatCeleryDate, parseCeleryDate } from "../src/backend.js";

describe("date_done in every format Celery 5.x wrote", () => {
  const instant = Date.UTC(2024, 4, 1, 12, 0, 0, 123);
  it.each([
    ["5.4 offset", "2024-05-01T12:00:00.123456+00:00"],
    ["5.5 app timezone", "2024-05-01T14:00:00.123456+02:00"],
    ["5.0-5.3 naive UTC", "2024-05-01T12:00:00.123456"],
    ["Z suffix", "2024-05-01T12:00:00.123Z"],
    ["space separator", "2024-05-01 12:00:00.123"],
    ["negative offset", "2024-05-01T07:30:00.123-04:30"],
  ])("%s: %s", (_, text) => {
    expect(parseCeleryDate(text)?.getTime()).toBe(instant);
  });

  it("reads the Elasticsearch @timestamp quirk without seconds", () => {
    expect(parseCeleryDate("2024-05-01T12:00Z")?.getTime()).toBe(Date.UTC(2024, 4, 1, 12));
  });

  it("reads BSON dates and epoch numbers, and nothing else", () => {
    expect(parseCeleryDate(new Date(instant))?.getTime()).toBe(instant);
    expect(parseCeleryDate(instant / 1000)?.getTime()).toBe(instant);
    expect(parseCeleryDate(null)).toBeNull();
    expect(parseCeleryDate("yesterday")).toBeNull();
  });

  it("writes Python's isoformat: microseconds only when non-zero, +00:00", () => {
    expect(formatCeleryDate(new Date(instant))).toBe("2024-05-01T12:00:00.123000+00:00");
    expect(formatCeleryDate(new Date(Date.UTC(2024, 4, 1)))).toBe("2024-05-01T00:00:00+00:00");
  });
});
