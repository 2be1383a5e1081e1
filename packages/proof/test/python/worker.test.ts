/**
 * python/test_worker.py, how a Python worker of a mixed fleet records outcomes (a call that sent
 * nothing is definite, one that sent anything indeterminate, a refusal seen in the package's log,
 * errors typed or not), run by unittest in the Celery venv with resultstore-celery from its
 * wheel. Not a unit test: the venv is built on first use (minutes); `test:integration` runs it.
 */
import { join } from "node:path";
import { packageEnv, pythonEnv, run } from "@resultstore/celery-python/wheel";
import { expect, it } from "vitest";

const PYTHON_DIR = join(import.meta.dirname, "..", "..", "python");

it("records each outcome as PROOF.md says (python -m unittest test_worker)", async () => {
  const { python, site } = await packageEnv();
  const output = await run(
    python,
    ["-m", "unittest", "-v", "test_worker"],
    pythonEnv(site, { PYTHONPATH: [site, PYTHON_DIR].join(":") }),
  );
  expect(output).toMatch(/^OK$/m);
}, 900_000);
