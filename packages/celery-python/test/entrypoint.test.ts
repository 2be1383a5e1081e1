// The distribution as installed from its wheel: Celery finds the `resultstore` entry point for
// `result_backend = "resultstore+<url>"`, hands it the URL after the "+", and bad URLs are typed
// errors (Celery's ImproperlyConfigured) before anything is sent.
import { serverTarget } from "@resultstore/conformance";
import { beforeAll, describe, expect, it } from "vitest";
import { packageEnv, pythonDriver } from "./env.js";

const mongo = serverTarget("MONGO");

beforeAll(async () => {
  const started = Date.now();
  const env = await packageEnv();
  console.error(`[resultstore-celery] wheel ${env.wheel} ready in ${Date.now() - started} ms`);
});

describe("the celery.result_backends entry point", () => {
  it.skipIf(!mongo.url)(
    `resolves resultstore+mongodb:// to our MongoBackend ${mongo.reason}`,
    async () => {
      const [cls] = await pythonDriver({ url: mongo.url as string, ops: [{ op: "backend" }] });
      expect(cls).toBe("resultstore_celery.mongodb.MongoBackend");
    },
  );

  it("resolves resultstore+dynamodb:// to our DynamoDBBackend (no request is sent at init)", async () => {
    const [cls] = await pythonDriver({
      url: "dynamodb://127.0.0.1:1/resultstore_probe", // no keys: Celery connects on first use
      ops: [{ op: "backend" }],
    });
    expect(cls).toBe("resultstore_celery.dynamodb.DynamoDBBackend");
  });

  it("refuses a scheme it does not serve, and a bare resultstore+, with ImproperlyConfigured", async () => {
    for (const url of ["redis://127.0.0.1:6379/0", "s3://bucket/prefix"]) {
      const [answer] = await pythonDriver({ url, ops: [{ op: "backend" }] });
      expect(answer).toMatchObject({ error: { type: "ConfigurationError" } });
      expect(JSON.stringify(answer)).toContain("[resultstore] [core] No backend for");
    }
  });
});
