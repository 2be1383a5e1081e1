// The state rules hand-written with the AWS SDK: ONE UpdateItem whose ConditionExpression is "no
// item, or a status the incoming state does not refuse"; metadata keys are `meta_<key>`
// attributes, so SET merges them. A refusal is ConditionalCheckFailedException.
import { UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { statesRefusing } from "@resultstore/core";
import { dynamoTable } from "../lib/clients.mjs";

export async function createGuarded(url) {
  const { client, TableName, close } = await dynamoTable(url, "bench_guarded");
  return {
    name: "UpdateItem SET … with ConditionExpression",
    write: async (id, status, result, metadata) => {
      const names = { "#s": "status", "#r": "result", "#d": "date_done", "#t": "ttl" };
      const values = {
        ":s": { S: status },
        ":r": { S: JSON.stringify(result) },
        ":d": { S: new Date().toISOString() },
        ":t": { N: String(Math.floor(Date.now() / 1000) + 86_400) },
      };
      const sets = ["#s = :s", "#r = :r", "#d = :d", "#t = :t"];
      Object.entries(metadata ?? {}).forEach(([k, v], i) => {
        names[`#m${i}`] = `meta_${k}`;
        values[`:m${i}`] = { S: JSON.stringify(v) };
        sets.push(`#m${i} = :m${i}`);
      });
      const refusing = statesRefusing(status).map((state, i) => {
        values[`:x${i}`] = { S: state };
        return `:x${i}`;
      });
      try {
        await client.send(
          new UpdateItemCommand({
            TableName,
            Key: { id: { S: id } },
            UpdateExpression: `SET ${sets.join(", ")}`,
            ConditionExpression: `attribute_not_exists(#s) OR NOT (#s IN (${refusing.join(", ")}))`,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        );
        return true;
      } catch (error) {
        if (error.name === "ConditionalCheckFailedException") return false;
        throw error;
      }
    },
    close,
  };
}
