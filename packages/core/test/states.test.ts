import { describe, expect, it } from "vitest";
import { canTransition, precedence, READY_STATES, statesRefusing } from "../src/index.js";

describe("Celery's precedence (celery/tests pin these)", () => {
  const gt = (a: string, b: string) => precedence(a) < precedence(b);
  it("orders the known states", () => {
    expect(gt("SUCCESS", "PENDING")).toBe(true);
    expect(gt("FAILURE", "RECEIVED")).toBe(true);
    expect(gt("REVOKED", "STARTED")).toBe(true);
    expect(gt("CRASHED", "REVOKED") || precedence("CRASHED") === precedence("REVOKED")).toBe(true);
    expect(gt("SUCCESS", "CRASHED")).toBe(true);
  });
});

describe("the state rules", () => {
  const all = [
    "QUEUED",
    "PENDING",
    "STARTED",
    "RETRY",
    "PROGRESS",
    "SUCCESS",
    "FAILURE",
    "REVOKED",
  ];
  it("a stored SUCCESS is final", () => {
    for (const incoming of all) expect(canTransition("SUCCESS", incoming)).toBe(false);
  });
  it("a stored ready state never becomes unready", () => {
    for (const stored of READY_STATES) {
      for (const incoming of all.filter((s) => !READY_STATES.has(s))) {
        expect(canTransition(stored, incoming)).toBe(false);
      }
    }
  });
  it("FAILURE and REVOKED may still be replaced by a ready state", () => {
    expect(canTransition("FAILURE", "SUCCESS")).toBe(true);
    expect(canTransition("REVOKED", "FAILURE")).toBe(true);
  });
  it("anything else applies, and nothing stored accepts everything", () => {
    for (const incoming of all) {
      expect(canTransition(null, incoming)).toBe(true);
      expect(canTransition("STARTED", incoming)).toBe(true);
    }
  });
  it("statesRefusing is the same rule in the form servers evaluate", () => {
    for (const stored of all) {
      for (const incoming of all) {
        expect(!statesRefusing(incoming).includes(stored)).toBe(canTransition(stored, incoming));
      }
    }
  });
});
