/** The SDK client, the table setup, and the middleware that keeps an increment from counting twice. */
import { setTimeout } from "node:timers/promises";
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  type TableDescription,
  type UpdateItemCommand,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import { BackendError } from "@resultstore/core";
import { BACKEND_NAME, type ResolvedConfig } from "./config.js";
import { attemptMayHaveLanded, errors, trackAttempts } from "./errors.js";
import { FIND_ATTRIBUTES, FIND_INDEXES, indexDefinition } from "./find.js";
import { ATTR } from "./records.js";

export interface Table {
  client: DynamoDBClient;
  name: string;
}

/** Longest wait for a table to become ACTIVE, in seconds (DynamoDB takes seconds, Local none). */
const ACTIVE_WAIT_SECONDS = 120;
/** Longest wait for the find indexes being added to an existing table (see addMissingIndexes). */
const INDEX_WAIT_SECONDS = 15;
const INDEX_POLL_MS = 250;

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
    const indexes = config.findIndexes ? FIND_INDEXES : [];
    const create = new CreateTableCommand({
      ...table,
      KeySchema: [{ AttributeName: ATTR.id, KeyType: "HASH" }],
      AttributeDefinitions: [
        { AttributeName: ATTR.id, AttributeType: "S" },
        ...(config.findIndexes ? FIND_ATTRIBUTES : []),
      ],
      BillingMode: config.throughput ? "PROVISIONED" : "PAY_PER_REQUEST",
      ProvisionedThroughput: config.throughput,
      ...(indexes.length > 0 && {
        GlobalSecondaryIndexes: indexes.map((index) => indexDefinition(index, config.throughput)),
      }),
    });
    const inUse = errors.on(["ResourceInUseException"], "in use");
    await errors.guard(doing, () => client.send(create), inUse);
    const waiter = { client, maxWaitTime: ACTIVE_WAIT_SECONDS, minDelay: 1, maxDelay: 5 };
    await errors.guard(doing, () => waitUntilTableExists(waiter, table));
  } else if (config.findIndexes) {
    await addMissingIndexes({ client, name }, described.Table);
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

/**
 * Adds the find indexes `table` lacks, one at a time (DynamoDB builds one index of a table at a
 * time). Each is waited for a few seconds only: DynamoDB Local builds one at once (and fails
 * writes meanwhile), while AWS backfills a large table for minutes to hours, and writes must not
 * wait for that; what is left is added by the next provisioning, or by a `find` that meets it.
 */
export async function addMissingIndexes(
  { client, name }: Table,
  described?: TableDescription,
): Promise<void> {
  const doing = `provisioning of table ${name}`;
  const describe = async () =>
    (await errors.guard(doing, () => client.send(new DescribeTableCommand({ TableName: name }))))
      .Table;
  let table = described ?? (await describe());
  // Only an index this call started is waited for: a process starting while another's index
  // backfills goes on at once.
  let waitUntil: number | undefined;
  for (;;) {
    const existing = table?.GlobalSecondaryIndexes ?? [];
    const building = existing.some((index) => index.IndexStatus !== "ACTIVE");
    const missing = FIND_INDEXES.find((index) => !existing.some((e) => e.IndexName === index.name));
    if (!building && !missing) return;
    if (waitUntil === undefined ? building : Date.now() > waitUntil) return;
    if (missing && !building) {
      await createIndex({ client, name }, missing, table);
      waitUntil ??= Date.now() + INDEX_WAIT_SECONDS * 1000;
    }
    await setTimeout(INDEX_POLL_MS);
    table = await describe();
  }
}

/** Starts building `index` on `table`; a concurrent starter that began first is no error. */
async function createIndex(
  { client, name }: Table,
  index: (typeof FIND_INDEXES)[number],
  table: TableDescription | undefined,
) {
  const onDemand = table?.BillingModeSummary?.BillingMode === "PAY_PER_REQUEST";
  const { ReadCapacityUnits = 1, WriteCapacityUnits = 1 } = table?.ProvisionedThroughput ?? {};
  const throughput = onDemand ? undefined : { ReadCapacityUnits, WriteCapacityUnits };
  const update = new UpdateTableCommand({
    TableName: name,
    AttributeDefinitions: FIND_ATTRIBUTES,
    GlobalSecondaryIndexUpdates: [{ Create: indexDefinition(index, throughput) }],
  });
  // "Index is being created", or AWS's limit of one index being built per table.
  const raced = errors.on(["ResourceInUseException", "LimitExceededException"], "raced");
  await errors.guard(`provisioning of table ${name}`, () => client.send(update), raced);
}

/**
 * The error `find` answers when `index` is missing or still being built: with `manageTable`,
 * after starting to build what is missing (so retrying later succeeds); otherwise what the
 * operator runs (README "Finding tasks").
 */
export async function missingIndex(
  table: Table,
  config: ResolvedConfig,
  index: string,
  cause: unknown,
): Promise<never> {
  const what = `The find index ${index} of table ${table.name} is missing or still being built`;
  if (config.findIndexes) {
    await addMissingIndexes(table);
    throw new BackendError(
      BACKEND_NAME,
      `${what}; resultstore is adding the find indexes one at a time (DynamoDB builds one per table at a time): retry once \`aws dynamodb describe-table\` shows them ACTIVE.`,
      { cause },
    );
  }
  throw new BackendError(
    BACKEND_NAME,
    `${what}. Create it as the backend's README ("Finding tasks") shows, or let resultstore add it (manageTable and findIndexes, the defaults).`,
    { cause },
  );
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
