// DynamoDB's hand-written equivalent: a Query on the by-state index (partition `status`, sort
// `find_position` = `<ms, 15 digits>#<task id>`) newest first, with the metadata attribute
// (`meta_tenant`, the value's Celery JSON) as the filter, no Limit (1 MB pages) until 100 items
// matched; the next page by a key condition below the last position. The count is a Query of
// the all-tasks index (`find_all` = "task") with the same filter, reading `status` alone.
import { QueryCommand } from "@aws-sdk/client-dynamodb";
import { dynamoClient } from "../lib/clients.mjs";
import { FIND_STATE, FIND_TENANT, PAGE } from "../lib/find-mix.mjs";

const POSITION_DIGITS = 15;
const positionOf = ({ time, taskId }) => `${String(time).padStart(POSITION_DIGITS, "0")}#${taskId}`;

export async function createNative(url, { store }) {
  const client = await dynamoClient(url);
  const TableName = store.backend.table;
  const tenant = { ":tenant": { S: JSON.stringify(FIND_TENANT) } };
  /** Every page of `input` until `enough(items)`, or the end. */
  const query = async (input, enough = () => false) => {
    const items = [];
    let ExclusiveStartKey;
    do {
      const out = await client.send(new QueryCommand({ ...input, ExclusiveStartKey }));
      items.push(...(out.Items ?? []));
      ExclusiveStartKey = out.LastEvaluatedKey;
    } while (ExclusiveStartKey && !enough(items));
    return items;
  };
  return {
    name: "Query by-state index + filter",
    page: async (last) => {
      const items = await query(
        {
          TableName,
          IndexName: "resultstore-by-state",
          KeyConditionExpression: `#status = :state${last ? " AND #position < :last" : ""}`,
          FilterExpression: "#tenant = :tenant",
          ExpressionAttributeNames: {
            "#status": "status",
            "#tenant": "meta_tenant",
            ...(last && { "#position": "find_position" }),
          },
          ExpressionAttributeValues: {
            ":state": { S: FIND_STATE },
            ...tenant,
            ...(last && { ":last": { S: positionOf(last) } }),
          },
          ScanIndexForward: false,
        },
        (found) => found.length >= PAGE,
      );
      return items.slice(0, PAGE).map((item) => {
        const position = item.find_position.S;
        const hash = position.indexOf("#");
        return { ...item, taskId: position.slice(hash + 1), time: Number(position.slice(0, hash)) };
      });
    },
    count: async () => {
      const items = await query({
        TableName,
        IndexName: "resultstore-all-tasks",
        KeyConditionExpression: "#all = :all",
        FilterExpression: "#tenant = :tenant",
        ProjectionExpression: "#status",
        ExpressionAttributeNames: {
          "#all": "find_all",
          "#tenant": "meta_tenant",
          "#status": "status",
        },
        ExpressionAttributeValues: { ":all": { S: "task" }, ...tenant },
      });
      const counts = {};
      for (const item of items) counts[item.status.S] = (counts[item.status.S] ?? 0) + 1;
      return counts;
    },
    close: () => client.destroy(),
  };
}

/** `findIndexes: false`: a table without the two find indexes. */
export async function storeWithoutIndexes(_url, namespace, openStore) {
  return { store: await openStore(namespace, { findIndexes: false }), how: "findIndexes: false" };
}
