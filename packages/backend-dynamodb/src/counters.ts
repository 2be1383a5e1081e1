/**
 * `incr`: one UpdateItem adding to Celery's `chord_count` attribute (`if_not_exists` starts it at
 * zero) and refreshing `ttl`, conditional on the counter not having expired. An expired counter
 * that TTL has not deleted yet fails that condition; it is then restarted at `by` by an UpdateItem
 * conditional on it still being expired, so concurrent increments stay exact: each one either adds
 * to the live counter or is the single restart.
 */
import {
  type AttributeValue,
  type DynamoDBClient,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { IncrementOutcomeUnknownError, LOST_RACE, retryLostRaces } from "@resultstore/core";
import { BACKEND_NAME } from "./config.js";
import { CONDITION_FAILED, errorName, errors, sentAgain } from "./errors.js";
import { Expression } from "./expression.js";
import { ATTR, epochSeconds, ttlValue } from "./records.js";

export function increment(
  client: DynamoDBClient,
  table: string,
  id: string,
  by: number,
  expiresAt: Date | null,
): Promise<number> {
  return retryLostRaces(BACKEND_NAME, `incr of ${id}`, async () => {
    const nowMs = Date.now();
    const added = await conditionalCount(client, table, id, by, expiresAt, nowMs, "add");
    if (added !== null) return added;
    const restarted = await conditionalCount(client, table, id, by, expiresAt, nowMs, "restart");
    return restarted ?? LOST_RACE;
  });
}

/** The new count, or null when the condition failed (live for "add", expired for "restart"). */
async function conditionalCount(
  client: DynamoDBClient,
  table: string,
  id: string,
  by: number,
  expiresAt: Date | null,
  nowMs: number,
  mode: "add" | "restart",
): Promise<number | null> {
  const expr = new Expression();
  const count = expr.name(ATTR.count);
  const step = expr.value({ N: String(by) });
  const now: AttributeValue = epochSeconds(nowMs);
  const next =
    mode === "add" ? `if_not_exists(${count}, ${expr.value({ N: "0" })}) + ${step}` : step;
  const sets = [`${count} = ${next}`, `${expr.name(ATTR.timestamp)} = ${expr.value(now)}`];
  if (expiresAt) sets.push(`${expr.name(ATTR.ttl)} = ${expr.value(ttlValue(expiresAt))}`);
  const remove = expiresAt ? "" : ` REMOVE ${expr.name(ATTR.ttl)}`;
  const output = await errors.guard(
    `Incrementing counter ${id}`,
    () =>
      client.send(
        new UpdateItemCommand({
          TableName: table,
          Key: { [ATTR.id]: { S: id } },
          UpdateExpression: `SET ${sets.join(", ")}${remove}`,
          ConditionExpression:
            mode === "add" ? expr.live(ATTR.ttl, now) : expr.expired(ATTR.ttl, now),
          ReturnValues: "UPDATED_NEW",
          ...expr.placeholders(),
        }),
      ),
    (error) => {
      if (errorName(error) !== CONDITION_FAILED) return undefined;
      // A re-sent restart whose first copy landed finds the counter live: not a lost race.
      if (sentAgain(error)) throw resentIncrement(id);
      return null;
    },
  );
  // A re-sent add whose first copy landed has added twice; the value cannot say.
  if (sentAgain(output)) throw resentIncrement(id);
  return output && Number(output.Attributes?.[ATTR.count]?.N);
}

/**
 * The SDK sent an increment again after a failure or a lost answer (the proof saw a chord member
 * counted twice during dropped connections): it may have counted more than once.
 */
function resentIncrement(id: string): IncrementOutcomeUnknownError {
  return new IncrementOutcomeUnknownError(
    BACKEND_NAME,
    id,
    "the AWS SDK sent it again after a failure",
  );
}
