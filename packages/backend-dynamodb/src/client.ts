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
import { attemptMayHaveLanded, errors, trackAttempts } from "./errors.js";
import { ATTR } from "./records.js";

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

export const TABLE_GONE = "ResourceNotFoundException";

/** Table setup, safe when many processes start at once (README "Table setup"). */
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
    if (errors.statusOf(error) === "ValidationException" && !(await ttlIsOff())) return;
    throw errors.wrapError(error, doing);
  }
}

/** Once an attempt may have landed, `command` is not sent again (README "Errors"). */
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
