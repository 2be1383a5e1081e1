/**
 * Table setup, safe when many processes start at once: describe, create if missing (a concurrent
 * creator's ResourceInUseException is fine), wait until ACTIVE, then enable TTL on `ttl` unless it
 * already is (a concurrent enabler's ValidationException is fine once TTL shows as enabled).
 */
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import { errorName, errors } from "./errors.js";
import { ATTR } from "./records.js";

export interface TableSettings {
  readCapacityUnits?: number;
  writeCapacityUnits?: number;
  /** Enable TTL on the `ttl` attribute. */
  enableTtl: boolean;
}

/** Longest wait for a table to become ACTIVE, in seconds (DynamoDB takes seconds, Local none). */
const ACTIVE_WAIT_SECONDS = 120;

export async function ensureTable(
  client: DynamoDBClient,
  table: string,
  settings: TableSettings,
): Promise<void> {
  if (!(await isActive(client, table))) {
    await create(client, table, settings);
    await waitActive(client, table);
  }
  if (settings.enableTtl) await enableTtl(client, table);
}

async function isActive(client: DynamoDBClient, table: string): Promise<boolean> {
  return errors.guard(
    `Describing table ${table}`,
    async () => {
      const output = await client.send(new DescribeTableCommand({ TableName: table }));
      return output.Table?.TableStatus === "ACTIVE";
    },
    errors.on(["ResourceNotFoundException"], false),
  );
}

async function create(
  client: DynamoDBClient,
  table: string,
  settings: TableSettings,
): Promise<void> {
  const provisioned =
    settings.readCapacityUnits !== undefined || settings.writeCapacityUnits !== undefined;
  const input: CreateTableCommandInput = {
    TableName: table,
    KeySchema: [{ AttributeName: ATTR.id, KeyType: "HASH" }],
    AttributeDefinitions: [{ AttributeName: ATTR.id, AttributeType: "S" }],
    ...(provisioned
      ? {
          BillingMode: "PROVISIONED",
          ProvisionedThroughput: {
            ReadCapacityUnits: settings.readCapacityUnits ?? 1,
            WriteCapacityUnits: settings.writeCapacityUnits ?? 1,
          },
        }
      : { BillingMode: "PAY_PER_REQUEST" }),
  };
  await errors.guard(
    `Creating table ${table}`,
    () => client.send(new CreateTableCommand(input)),
    // Another process is creating (or just created) it: wait for ACTIVE like the creator does.
    errors.on(["ResourceInUseException"], "in use"),
  );
}

async function waitActive(client: DynamoDBClient, table: string): Promise<void> {
  await errors.guard(`Waiting for table ${table} to become ACTIVE`, () =>
    waitUntilTableExists(
      { client, maxWaitTime: ACTIVE_WAIT_SECONDS, minDelay: 1, maxDelay: 5 },
      { TableName: table },
    ),
  );
}

/** "ON": TTL enabled (or enabling) on `ttl`; "OTHER": on another attribute; "OFF": disabled. */
async function ttlState(client: DynamoDBClient, table: string): Promise<"ON" | "OTHER" | "OFF"> {
  const output = await errors.guard(`Describing TTL of table ${table}`, () =>
    client.send(new DescribeTimeToLiveCommand({ TableName: table })),
  );
  const description = output.TimeToLiveDescription;
  const status = description?.TimeToLiveStatus;
  if (status !== "ENABLED" && status !== "ENABLING") return "OFF";
  return description?.AttributeName === ATTR.ttl ? "ON" : "OTHER";
}

async function enableTtl(client: DynamoDBClient, table: string): Promise<void> {
  // TTL on another attribute is the owner's choice: leave it. Reads still hide expired items
  // and cleanup() still deletes them.
  if ((await ttlState(client, table)) !== "OFF") return;
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: table,
        TimeToLiveSpecification: { AttributeName: ATTR.ttl, Enabled: true },
      }),
    );
  } catch (error) {
    // "TimeToLive is already enabled" (a concurrent starter won) or a change still in progress.
    if (errorName(error) === "ValidationException" && (await ttlState(client, table)) !== "OFF")
      return;
    throw errors.wrapError(error, `Enabling TTL on table ${table}`);
  }
}
