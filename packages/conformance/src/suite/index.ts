/**
 * The conformance suite every backend passes against its real server: one file per group, each a
 * function of (test API, options); `runConformanceSuite` registers them all. Tests use unique ids
 * and share nothing but the group's store, so they do not depend on order.
 */
import type { ResultStoreOptions } from "@resultstore/core";
import type { ConformanceOptions, SuiteGroup, TestApi } from "../api.js";
import { badInputTests } from "./bad-input.js";
import { chordTests } from "./chords.js";
import type { GroupTests } from "./context.js";
import { counterTests } from "./counters.js";
import { expiryTests } from "./expiry.js";
import { findTests } from "./find.js";
import { groupTests } from "./groups.js";
import { isolationTests } from "./isolation.js";
import { lifecycleTests } from "./lifecycle.js";
import { metadataTests } from "./metadata.js";
import { raceTests } from "./races.js";
import { readTests } from "./reads.js";
import { resultTests } from "./results.js";
import { retentionTests } from "./retention.js";
import { stateRuleTests } from "./state-rules.js";
import { statesTests } from "./states.js";
import { waitTests } from "./waiting.js";

export type { GroupTests } from "./context.js";
export {
  badInputTests,
  chordTests,
  counterTests,
  expiryTests,
  findTests,
  groupTests,
  isolationTests,
  lifecycleTests,
  metadataTests,
  raceTests,
  readTests,
  resultTests,
  retentionTests,
  stateRuleTests,
  statesTests,
  waitTests,
};

/** Every group of the suite by name; {@link runConformanceSuite} registers them all. */
export const SUITE_GROUPS: Record<SuiteGroup, GroupTests> = {
  states: statesTests,
  results: resultTests,
  metadata: metadataTests,
  stateRules: stateRuleTests,
  races: raceTests,
  counters: counterTests,
  chords: chordTests,
  groups: groupTests,
  reads: readTests,
  waiting: waitTests,
  expiry: expiryTests,
  retention: retentionTests,
  badInput: badInputTests,
  lifecycle: lifecycleTests,
  isolation: isolationTests,
  find: findTests,
};

/** Registers the whole suite under one describe block named after the backend. */
export function runConformanceSuite(api: TestApi, options: ConformanceOptions): void {
  api.describe(`conformance: ${options.name}`, () => {
    for (const register of Object.values(SUITE_GROUPS)) register(api, options);
  });
}

export type { ResultStoreOptions };
