/**
 * test/python/test_faults.py: what resultstore-celery answers when a dropped connection loses an
 * answer (DynamoDB and Elasticsearch, through a proxy that loses one chosen answer after the server
 * applied the request), Cassandra's reconnection policy and FerretDB's "UNSAFE ENGINE" warning,
 * on the real servers (PROOF.md, "Found with `drop`"). Run by unittest in the Celery venv with the
 * package installed from its wheel; a server whose URL is unset is skipped, except in CI.
 */

import { expect, it } from "vitest";
import { DRIVER_DIR, packageEnv, pythonEnv, run } from "./env.js";

const SERVERS = ["DYNAMODB", "ELASTICSEARCH", "CASSANDRA", "MONGO", "MONGO_JAVA"];

it("keeps its answers honest under dropped connections (python -m unittest test_faults)", async () => {
  const { python, site } = await packageEnv();
  const urls = Object.fromEntries(
    SERVERS.map((name) => [`RESULTSTORE_${name}_URL`, process.env[`RESULTSTORE_${name}_URL`]]),
  );
  const output = await run(
    python,
    ["-m", "unittest", "-v", "test_faults"],
    pythonEnv(site, { PYTHONPATH: [site, DRIVER_DIR].join(":"), ...urls }),
  );
  expect(output).toMatch(/^OK/m);
  if (process.env.CI) expect(output).not.toMatch(/skipped/);
}, 600_000);
