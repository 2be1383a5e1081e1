/**
 * Issue 28: cleanup() pages through the namespace (key names, then 64 values per read) instead of
 * one answer holding every key and value.
 */
import { randomUUID } from "node:crypto";
import { serverTarget } from "@resultstore/conformance";
import { afterAll, describe, expect, it } from "vitest";
import { type FetchLike, fromUrl } from "../src/index.js";
import { httpBase } from "./helpers.js";

const target = serverTarget("CONSUL");
const KEYS = 1500;
const VALUE_BYTES = 4096;

describe.skipIf(!target.url)(`consul cleanup ${target.reason}`, () => {
  const url = target.url as string;
  const namespace = `rs-test/${randomUUID()}`;
  const responses: { keysOnly: boolean; bytes: number }[] = [];
  const measuring: FetchLike = async (u, init) => {
    const response = await fetch(u, init);
    const body = await response.text();
    responses.push({ keysOnly: /[?&]keys(&|$)/.test(u), bytes: Buffer.byteLength(body) });
    return { status: response.status, text: async () => body };
  };
  const backend = fromUrl(url, { namespace, sessionExpiry: false, fetch: measuring });
  afterAll(async () => {
    await backend.destroy();
    await backend.close();
  });

  it(`removes ${KEYS} expired keys with no answer larger than a page of values`, async () => {
    // Expired records written straight through /v1/txn, 64 per transaction.
    const past = new Date(Date.now() - 60_000).toISOString();
    const value = JSON.stringify({
      status: "SUCCESS",
      expires_at: past,
      pad: "x".repeat(VALUE_BYTES),
    });
    for (let i = 0; i < KEYS; i += 64) {
      const ops = Array.from({ length: Math.min(64, KEYS - i) }, (_, j) => ({
        KV: {
          Verb: "set",
          Key: `${backend.keyPrefix}celery-task-meta-${randomUUID()}-${i + j}`,
          Value: Buffer.from(value).toString("base64"),
        },
      }));
      const response = await fetch(`${httpBase(url)}/v1/txn`, {
        method: "PUT",
        body: JSON.stringify(ops),
      });
      expect(response.status).toBe(200);
    }
    responses.length = 0;
    expect(await backend.cleanup(new Date())).toBe(KEYS);
    const largest = Math.max(...responses.map((r) => r.bytes));
    const listing = Math.max(...responses.filter((r) => r.keysOnly).map((r) => r.bytes));
    const page = Math.max(...responses.filter((r) => !r.keysOnly).map((r) => r.bytes));
    const total = KEYS * VALUE_BYTES;
    console.info(
      `cleanup of ${KEYS} keys of ${VALUE_BYTES} B: ${responses.length} answers; key listing ` +
        `${listing} B, largest page of values ${page} B (values total ${total} B)`,
    );
    // The names-only listing: ~100 bytes a key (Consul cannot page a listing). Every other answer
    // holds one page: 64 values, base64 (4/3) plus Consul's per-entry fields. Before, one answer
    // held all KEYS values (over 8 MB here).
    expect(listing).toBeLessThan(KEYS * 150);
    expect(page).toBeLessThan(64 * VALUE_BYTES * 1.6);
    expect(largest).toBeLessThan(total / 10);
  }, 120_000);
});
