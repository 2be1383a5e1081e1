/** Counters and sets: one patch conditional on the document being live (README: incr, addToSet). */
import { type Container, type PatchOperation, StatusCodes } from "@azure/cosmos";
import { isPlainObject, LOST_RACE, retryLostRaces } from "@resultstore/core/backend";
import { createItem, readItem, replaceItem } from "./client.js";
import { BACKEND_NAME } from "./config.js";
import { errors, writeErrors } from "./errors.js";
import { expiryFields, keys, memberProperty, type StoredDocument } from "./records.js";

const { NotFound, PreconditionFailed } = StatusCodes;

/** A patch of document `id` (the expiry's `set`s added), the document it starts `fresh` as, and its `answer`. */
interface LiveUpdate {
  id: string;
  label: string;
  subject: string;
  operations: PatchOperation[];
  fresh: Record<string, unknown>;
  answer(doc: StoredDocument): number;
}

/** Adds `by` to the counter's `count` (the patch's `incr` operation); the new count. */
export function incr(container: Container, key: string, by: number, expiresAt: Date | null) {
  return updateLive(container, expiresAt, {
    id: keys.counter(key),
    label: `incr of counter ${key}`,
    subject: `counter ${key}`,
    operations: [{ op: "incr", path: "/count", value: by }],
    fresh: { count: by },
    answer: (doc) => Number(doc.count),
  });
}

/** Sets `/members/<member>`: a member already there changes nothing; the size is `members`'. */
export function addToSet(
  container: Container,
  key: string,
  member: string,
  expiresAt: Date | null,
) {
  const property = memberProperty(member);
  return updateLive(container, expiresAt, {
    id: keys.set(key),
    label: `add to set ${key}`,
    subject: `set ${key}`,
    operations: [{ op: "set", path: `/members/${property}`, value: true }],
    fresh: { members: { [property]: true } },
    answer: (doc) => (isPlainObject(doc.members) ? Object.keys(doc.members).length : 0),
  });
}

/** Patches the live document; creates a missing one (404), restarts an expired one (412) under If-Match. */
function updateLive(container: Container, expiresAt: Date | null, update: LiveUpdate) {
  const { id, label } = update;
  return retryLostRaces(BACKEND_NAME, label, async () => {
    const now = Date.now();
    const expiry = expiryFields(expiresAt, now);
    const fresh = { id, ...update.fresh, ...expiry };
    // Whole seconds, rounded down: one condition text per second, never restarting early (README).
    const cutoff = Math.floor(now / 1000) * 1000;
    const patch = () =>
      container.item(id, id).patch<StoredDocument>({
        // Lower-case-proof and numeric only: the local test server lower-cases this text.
        condition: `FROM c WHERE NOT IS_DEFINED(c.expires_at) OR IS_NULL(c.expires_at) OR c.expires_at > ${cutoff}`,
        operations: [
          ...update.operations,
          { op: "set", path: "/expires_at", value: expiry.expires_at },
          { op: "set", path: "/ttl", value: expiry.ttl },
        ],
      });
    const refused = (error: unknown) =>
      [NotFound, PreconditionFailed].find((status) => status === errors.statusOf(error));
    const patched = await writeErrors.guard(label, patch, refused);
    if (typeof patched !== "number") return update.answer(patched.resource ?? { id });
    if (patched === NotFound) {
      return (await createItem(container, fresh, label)) ? update.answer(fresh) : LOST_RACE;
    }
    // Restart only an expired version: one another client restarted since would lose its changes.
    const { resource, etag } = await readItem(container, id, `read of ${update.subject}`);
    const expired = typeof resource?.expires_at === "number" && resource.expires_at <= cutoff;
    const landed = expired && etag && (await replaceItem(container, fresh, etag, label));
    return landed ? update.answer(fresh) : LOST_RACE;
  });
}
