/**
 * Counters and sets: one atomic `findOneAndUpdate` upsert of the live document, answering the
 * document after it. An expired one is excluded by the filter, so the insert collides with it
 * (E11000): it is deleted and the update runs again, which also settles two first inserts racing.
 */
import { LOST_RACE, retryLostRaces } from "@resultstore/core/backend";
import type { Collection, Document } from "mongodb";
import type { Connection } from "./client.js";
import { BACKEND_NAME } from "./config.js";
import { DUPLICATE_KEY, errors } from "./errors.js";
import { EXPIRES_FIELD, expiredFilter, type TaskDocument } from "./records.js";

/** `$inc` on the live counter, or an insert starting at `by`. */
export async function incr(db: Connection, key: string, by: number, expires: Date | null) {
  const update = { $inc: { value: by }, $set: { [EXPIRES_FIELD]: expires } };
  const doc = await upsertLive(db, db.counters, key, update, `incr of counter ${key}`);
  return Number(doc?.value);
}

/** `$addToSet` on the live set, or an insert holding just `member`; the size after the add. */
export async function addToSet(db: Connection, key: string, member: string, expires: Date | null) {
  const update = { $addToSet: { members: member }, $set: { [EXPIRES_FIELD]: expires } };
  // FerretDB 1.x implements no projection here, so the whole document comes back.
  const doc = await upsertLive(db, db.sets, key, update, `add to set ${key}`);
  return Array.isArray(doc?.members) ? doc.members.length : 0;
}

function upsertLive(
  { guardWrite }: Connection,
  collection: Collection<TaskDocument>,
  key: string,
  update: Document,
  label: string,
): Promise<TaskDocument | null> {
  const now = new Date();
  const expired = expiredFilter(now, null);
  const options = { upsert: true, returnDocument: "after" } as const;
  return retryLostRaces(BACKEND_NAME, label, async () => {
    const doc = await guardWrite(
      label,
      () => collection.findOneAndUpdate({ _id: key, $nor: [expired] }, update, options),
      errors.on([DUPLICATE_KEY], LOST_RACE),
    );
    if (doc !== LOST_RACE) return doc;
    await guardWrite(label, () => collection.deleteOne({ _id: key, ...expired }));
    return LOST_RACE;
  });
}
