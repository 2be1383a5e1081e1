/** Counters and sets, exact under concurrency (README "How the guard and merge are atomic"). */
import { UpdateItemCommand, type UpdateItemCommandOutput } from "@aws-sdk/client-dynamodb";
import { IncrementOutcomeUnknownError } from "@resultstore/core";
import { LOST_RACE, retryLostRaces } from "@resultstore/core/backend";
import { sentAtMostOnceAfterLanding, type Table } from "./client.js";
import { BACKEND_NAME } from "./config.js";
import { CONDITION_FAILED, sentAgain, writeErrors } from "./errors.js";
import { Expression } from "./expression.js";
import { ATTR, epochSeconds, ttlValue } from "./records.js";

/** One update of counter or set item `id`. */
interface ItemUpdate {
  id: string;
  expiresAt: Date | null;
  doing: string;
  /** The `SET` assignments and the `ADD` clause (or "") that change the live or restarted value. */
  change(expr: Expression, restart: boolean): { set: string[]; add: string };
  answer(output: UpdateItemCommandOutput): number;
  /** Throws when a request the SDK sent more than once may have changed the value twice. */
  onResent?(): never;
}

const RESENT = "the AWS SDK sent it again after a failure";

/** Adds `by` to Celery's `chord_count` attribute (`if_not_exists` starts it at zero). */
export function incr(table: Table, id: string, by: number, expiresAt: Date | null) {
  return updateLive(table, {
    id,
    expiresAt,
    doing: `incr of counter ${id}`,
    change: (expr, restart) => {
      const count = expr.name(ATTR.count);
      const step = expr.value({ N: String(by) });
      const next = restart ? step : `if_not_exists(${count}, ${expr.value({ N: "0" })}) + ${step}`;
      return { set: [`${count} = ${next}`], add: "" };
    },
    answer: (output) => Number(output.Attributes?.[ATTR.count]?.N),
    // The proof saw a chord member counted twice during dropped connections.
    onResent: () => {
      throw new IncrementOutcomeUnknownError(BACKEND_NAME, id, RESENT);
    },
  });
}

/** ADDs `member` to the string set `members`, answering the set's size the update returns. */
export function addToSet(table: Table, id: string, member: string, expiresAt: Date | null) {
  return updateLive(table, {
    id,
    expiresAt,
    doing: `add to set ${id}`,
    change: (expr, restart) => {
      const members = expr.name(ATTR.members);
      const value = expr.value({ SS: [member] });
      // ADD to a string set is idempotent, so a copy the SDK sends again changes nothing more.
      return restart
        ? { set: [`${members} = ${value}`], add: "" }
        : { set: [], add: ` ADD ${members} ${value}` };
    },
    answer: (output) => output.Attributes?.[ATTR.members]?.SS?.length ?? 0,
  });
}

function updateLive(table: Table, update: ItemUpdate): Promise<number> {
  return retryLostRaces(BACKEND_NAME, update.doing, async () => {
    const nowMs = Date.now();
    const added = await conditionalUpdate(table, update, nowMs, false);
    return added ?? (await conditionalUpdate(table, update, nowMs, true)) ?? LOST_RACE;
  });
}

/** The answer, or null when the condition failed (live to add, expired to restart). */
async function conditionalUpdate(
  { client, name }: Table,
  update: ItemUpdate,
  nowMs: number,
  restart: boolean,
): Promise<number | null> {
  const { id, expiresAt } = update;
  const expr = new Expression();
  const now = epochSeconds(nowMs);
  const { set, add } = update.change(expr, restart);
  const sets = [...set, `${expr.name(ATTR.timestamp)} = ${expr.value(now)}`];
  if (expiresAt) sets.push(`${expr.name(ATTR.ttl)} = ${expr.value(ttlValue(expiresAt))}`);
  const remove = expiresAt ? "" : ` REMOVE ${expr.name(ATTR.ttl)}`;
  const command = new UpdateItemCommand({
    TableName: name,
    Key: { [ATTR.id]: { S: id } },
    UpdateExpression: `SET ${sets.join(", ")}${remove}${add}`,
    ConditionExpression: restart ? expr.expired(ATTR.ttl, now) : expr.live(ATTR.ttl, now),
    ReturnValues: "UPDATED_NEW",
    ...expr.placeholders(),
  });
  if (update.onResent) sentAtMostOnceAfterLanding(command, update.onResent);
  const output = await writeErrors.guard(
    update.doing,
    () => client.send(command),
    (error) => {
      if (writeErrors.statusOf(error) !== CONDITION_FAILED) return undefined; // typed by the guard
      // A re-sent restart whose first copy landed finds the item live: not a lost race.
      if (sentAgain(error)) update.onResent?.();
      return null;
    },
  );
  // A re-sent increment whose first copy landed has added twice; the value cannot say.
  if (output && sentAgain(output)) update.onResent?.();
  return output && update.answer(output);
}
