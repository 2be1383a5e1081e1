// The targets' prepared records: every target's reads must read the records `prepare` stored,
// whatever the `refused` op did before them — or the raw column reads smaller records than ours.
import { describe, expect, it } from "vitest";
import { PAYLOAD, preparedIdsFor, preparedSets, rawTarget } from "../lib/targets.mjs";
import { createRaw } from "../raw/memory.mjs";

describe("prepared records", () => {
  it("reads find the SUCCESS payload after the raw target's unguarded refused writes", async () => {
    const raw = await createRaw("memory://", PAYLOAD);
    const target = rawTarget(raw);
    let n = 0;
    const prepared = preparedSets(8, () => `p-${n++}`);
    await target.prepare([...prepared.refused, ...prepared.reads]);
    const ids = preparedIdsFor(prepared, "refused");
    await target.run("refused", { ids, count: 8, width: 2, maxSeconds: 10 });
    expect((await raw.get(ids[0])).status).toBe("STARTED"); // unguarded: it overwrote
    for (const op of ["get", "getMany"])
      for (const record of await raw.getMany(preparedIdsFor(prepared, op)))
        expect(record).toEqual({ status: "SUCCESS", result: PAYLOAD });
  });
});
