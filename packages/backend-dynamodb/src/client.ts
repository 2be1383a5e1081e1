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

/** Whether `error` says the table is gone (an in-memory DynamoDB Local restarted, an operator). */
export function isTableGone(error: unknown): boolean {
  return errors.statusOf(error) === "ResourceNotFoundException";
}

/**
 * Table setup, safe when many processes start at once: describe, create if missing (a concurrent
 * creator's ResourceInUseException is fine: wait for ACTIVE like the creator does), then enable TTL
 * on `ttl` unless it already is (a concurrent enabler's ValidationException is fine once TTL shows
 * as enabled). TTL on another attribute is the owner's choice: we leave it, reads still hide
 * expired items and cleanup() still deletes them.
 */
export async function provision({ client, name }: Table, config: ResolvedConfig): Promise<void> {
  const doing = `provisioning of table ${name}`;
  const described = await errors.guard(
    doing,
    () => client.send(new DescribeTableCommand({ TableName: name })),
    errors.on(["ResourceNotFoundException"], null),
  );
  if (described?.Table?.TableStatus !== "ACTIVE") {
    const { capacity } = config;
    const command = new CreateTableCommand({
      TableName: name,
      KeySchema: [{ AttributeName: ATTR.id, KeyType: "HASH" }],
      AttributeDefinitions: [{ AttributeName: ATTR.id, AttributeType: "S" }],
      ...(capacity
        ? {
            BillingMode: "PROVISIONED",
            ProvisionedThroughput: {
              ReadCapacityUnits: capacity.read,
              WriteCapacityUnits: capacity.write,
            },
          }
        : { BillingMode: "PAY_PER_REQUEST" }),
    });
    await errors.guard(
      doing,
      () => client.send(command),
      errors.on(["ResourceInUseException"], "in use"),
    );
    await errors.guard(doing, () =>
      waitUntilTableExists(
        { client, maxWaitTime: ACTIVE_WAIT_SECONDS, minDelay: 1, maxDelay: 5 },
        { TableName: name },
      ),
    );
  }
  if (config.ttlSeconds === -1) return;
  const ttlIsOff = async () => {
    const output = await errors.guard(doing, () =>
      client.send(new DescribeTimeToLiveCommand({ TableName: name })),
    );
    const status = output.TimeToLiveDescription?.TimeToLiveStatus;
    return status !== "ENABLED" && status !== "ENABLING";
  };
  if (!(await ttlIsOff())) return;
  const enable = {
    TableName: name,
    TimeToLiveSpecification: { AttributeName: ATTR.ttl, Enabled: true },
  };
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
