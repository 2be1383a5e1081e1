/**
 * Counters and sets: each one UpdateItem that changes the value and refreshes `ttl`, conditional
 * on the item not having expired. An expired item that TTL has not deleted yet fails that
 * condition; it is then restarted by an UpdateItem conditional on it still being expired, so
 * concurrent calls stay exact: each one either changes the live item or is the single restart.
 *  - `incr` adds to Celery's `chord_count` attribute (`if_not_exists` starts it at zero);
 *  - `addToSet` ADDs the member to the string set `members` (DynamoDB ignores a member already
 *    there), and answers the set's size from the values the update returns.
 */
import {
  type AttributeValue,
  type DynamoDBClient,
  UpdateItemCommand,
  type UpdateItemCommandOutput,
} from "@aws-sdk/client-dynamodb";
import { IncrementOutcomeUnknownError } from "@resultstore/core";
import { LOST_RACE, retryLostRaces } from "@resultstore/core/backend";
import { BACKEND_NAME } from "./config.js";
import {
  attemptMayHaveLanded,
  CONDITION_FAILED,
  errorName,
  sentAgain,
  writeErrors,
} from "./errors.js";
import { Expression } from "./expression.js";
import { ATTR, epochSeconds, ttlValue } from "./records.js";

/** Whether an update changes the live item or restarts an expired one. */
type Mode = "add" | "restart";

/** One update of a counter or set item; what it changes, by mode. */
interface ItemUpdate {
  /** What failed, for messages. */
  doing: string;
  /** The `SET` assignments and the `ADD` clause (or "") that change the value. */
  change(expr: Expression, mode: Mode): { set: string[]; add: string };
  /** The answer, from the attributes the update returned. */
  answer(output: UpdateItemCommandOutput): number;
  /** Throws when a request the SDK sent more than once may have changed the value twice. */
  onResent?(): never;
}

export function increment(
  client: DynamoDBClient,
  table: string,
  id: string,
  by: number,
  expiresAt: Date | null,
): Promise<number> {
  const resent = (): never => {
    // The proof saw a chord member counted twice during dropped connections.
    throw new IncrementOutcomeUnknownError(
      BACKEND_NAME,
      id,
      "the AWS SDK sent it again after a failure",
    );
  };
  return updateLive(client, table, id, expiresAt, {
    doing: `Incrementing counter ${id}`,
    change: (expr, mode) => {
      const count = expr.name(ATTR.count);
      const step = expr.value({ N: String(by) });
      const next =
        mode === "add" ? `if_not_exists(${count}, ${expr.value({ N: "0" })}) + ${step}` : step;
      return { set: [`${count} = ${next}`], add: "" };
    },
    answer: (output) => Number(output.Attributes?.[ATTR.count]?.N),
    onResent: resent,
  });
}

/** Adds `member` to the string set of item `id`; the set's size after the add. */
export function addMember(
  client: DynamoDBClient,
  table: string,
  id: string,
  member: string,
  expiresAt: Date | null,
): Promise<number> {
  return updateLive(client, table, id, expiresAt, {
    doing: `Adding to set ${id}`,
    change: (expr, mode) => {
      const members = expr.name(ATTR.members);
      const value = expr.value({ SS: [member] });
      // ADD to a string set is idempotent, so a copy the SDK sends again changes nothing more.
      return mode === "add"
        ? { set: [], add: ` ADD ${members} ${value}` }
        : { set: [`${members} = ${value}`], add: "" };
    },
    answer: (output) => output.Attributes?.[ATTR.members]?.SS?.length ?? 0,
  });
}

function updateLive(
  client: DynamoDBClient,
  table: string,
  id: string,
  expiresAt: Date | null,
  update: ItemUpdate,
): Promise<number> {
  return retryLostRaces(BACKEND_NAME, update.doing, async () => {
    const nowMs = Date.now();
    const added = await conditionalUpdate(client, table, id, expiresAt, nowMs, "add", update);
    if (added !== null) return added;
    const restarted = await conditionalUpdate(
      client,
      table,
      id,
      expiresAt,
      nowMs,
      "restart",
      update,
    );
    return restarted ?? LOST_RACE;
  });
}

/** The answer, or null when the condition failed (live for "add", expired for "restart"). */
async function conditionalUpdate(
  client: DynamoDBClient,
  table: string,
  id: string,
  expiresAt: Date | null,
  nowMs: number,
  mode: Mode,
  update: ItemUpdate,
): Promise<number | null> {
  const expr = new Expression();
  const now: AttributeValue = epochSeconds(nowMs);
  const { set, add } = update.change(expr, mode);
  const sets = [...set, `${expr.name(ATTR.timestamp)} = ${expr.value(now)}`];
  if (expiresAt) sets.push(`${expr.name(ATTR.ttl)} = ${expr.value(ttlValue(expiresAt))}`);
  const remove = expiresAt ? "" : ` REMOVE ${expr.name(ATTR.ttl)}`;
  const command = new UpdateItemCommand({
    TableName: table,
    Key: { [ATTR.id]: { S: id } },
    UpdateExpression: `SET ${sets.join(", ")}${remove}${add}`,
    ConditionExpression: mode === "add" ? expr.live(ATTR.ttl, now) : expr.expired(ATTR.ttl, now),
    ReturnValues: "UPDATED_NEW",
    ...expr.placeholders(),
  });
  if (update.onResent) sentAtMostOnceAfterLanding(command, update.onResent);
  const output = await writeErrors.guard(
    update.doing,
    () => client.send(command),
    (error) => {
      if (errorName(error) !== CONDITION_FAILED) return undefined; // writeErrors types the rest
      // A re-sent restart whose first copy landed finds the item live: not a lost race.
      if (sentAgain(error)) update.onResent?.();
      return null;
    },
  );
  // A re-sent increment whose first copy landed has added twice; the value cannot say.
  if (output && sentAgain(output)) update.onResent?.();
  return output && update.answer(output);
}

/**
 * Stops the SDK from sending `command` again once an attempt of it may have been applied (it got no
 * answer, or a 5xx): a second copy of an increment would count again, and no answer could undo
 * that. `refuse` throws the error the caller gets instead. A re-send after an attempt that provably
 * applied nothing (a refused connection, a 4xx such as throttling) still goes out. Added to the
 * command, below the SDK's retry, so it also holds on a client the caller built.
 */
function sentAtMostOnceAfterLanding(command: UpdateItemCommand, refuse: () => never): void {
  let mayHaveLanded = false;
  command.middlewareStack.add(
    (next) => async (args) => {
      if (mayHaveLanded) refuse();
      try {
        return await next(args);
      } catch (error) {
        if (attemptMayHaveLanded(error)) mayHaveLanded = true;
        throw error;
      }
    },
    { step: "deserialize", priority: "low", name: "resultstoreSentAtMostOnce" },
  );
}
