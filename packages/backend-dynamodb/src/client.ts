/** The SDK client, the table setup, and the middleware that keeps an increment from counting twice. */
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  type UpdateItemCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import type { ResolvedConfig } from "./config.js";
import { attemptMayHaveLanded, errorName, errors, trackAttempts } from "./errors.js";
import { ATTR } from "./records.js";

/** What every call addresses: the client and the table's name. */
export interface Table {
  client: DynamoDBClient;
  name: string;
}

/** Longest wait for a table to become ACTIVE, in seconds (DynamoDB takes seconds, Local none). */
const ACTIVE_WAIT_SECONDS = 120;

/** The caller's client, or ours, which reports what each attempt may have done (`trackAttempts`). */
export function createClient(config: ResolvedConfig): DynamoDBClient {
  if (config.client) return config.client;
  const client = new DynamoDBClient(config.clientConfig);
  trackAttempts(client);
  return client;
}

/** DynamoDB's "no such table". */
export const TABLE_GONE = "ResourceNotFoundException";

/**
 * Table setup, safe when many processes start at once: describe, create if missing (a concurrent
 * creator's ResourceInUseException is fine: wait for ACTIVE like the creator does), then enable TTL
 * on `ttl` unless it already is (a concurrent enabler's ValidationException is fine once TTL shows
 * as enabled). TTL on another attribute is the owner's choice: we leave it, reads still hide
 * expired items and cleanup() still deletes them.
 */
export async function provision({ client, name }: Table, config: ResolvedConfig): Promise<void> {
  const doing = `provisioning of table ${name}`;
  const table = { TableName: name };
  const describe = () => client.send(new DescribeTableCommand(table));
  const described = await errors.guard(doing, describe, errors.on([TABLE_GONE], null));
  if (described?.Table?.TableStatus !== "ACTIVE") {
    const create = new CreateTableCommand({
      ...table,
      KeySchema: [{ AttributeName: ATTR.id, KeyType: "HASH" }],
      AttributeDefinitions: [{ AttributeName: ATTR.id, AttributeType: "S" }],
      BillingMode: config.throughput ? "PROVISIONED" : "PAY_PER_REQUEST",
      ProvisionedThroughput: config.throughput,
    });
    const inUse = errors.on(["ResourceInUseException"], "in use");
    await errors.guard(doing, () => client.send(create), inUse);
    const waiter = { client, maxWaitTime: ACTIVE_WAIT_SECONDS, minDelay: 1, maxDelay: 5 };
    await errors.guard(doing, () => waitUntilTableExists(waiter, table));
  }
  if (config.ttlSeconds === -1) return;
  const ttlIsOff = async () => {
    const ttl = await errors.guard(doing, () => client.send(new DescribeTimeToLiveCommand(table)));
    const status = ttl.TimeToLiveDescription?.TimeToLiveStatus;
    return status !== "ENABLED" && status !== "ENABLING";
  };
  if (!(await ttlIsOff())) return;
  const enable = { ...table, TimeToLiveSpecification: { AttributeName: ATTR.ttl, Enabled: true } };
  try {
    await client.send(new UpdateTimeToLiveCommand(enable));
  } catch (error) {
    // "TimeToLive is already enabled" (a concurrent starter won) or a change still in progress.
    if (errorName(error) === "ValidationException" && !(await ttlIsOff())) return;
    throw errors.wrapError(error, doing);
  }
}

/**
 * Stops the SDK from sending `command` again once an attempt of it may have been applied (it got no
 * answer, or a 5xx): a second copy of an increment would count again, and no answer could undo
 * that. `refuse` throws the error the caller gets instead. A re-send after an attempt that provably
 * applied nothing (a refused connection, a 4xx such as throttling) still goes out. Added to the
 * command, below the SDK's retry, so it also holds on a client the caller built.
 */
export function sentAtMostOnceAfterLanding(command: UpdateItemCommand, refuse: () => never): void {
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
