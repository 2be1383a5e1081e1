// Packaged as users install it: `python -m build` makes the sdist and the wheel; each Celery series
// the package supports gets a FRESH venv outside the workspace, into which the wheel is installed
// with its extras from the package registry (no editable install, nothing of the repository on
// the path); a smoke test there records QUEUED with metadata, STARTED, SUCCESS and a refused late
// STARTED on two real databases, and Node reads the records back.
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as dynamodb from "@resultstore/backend-dynamodb";
import * as mongo from "@resultstore/backend-mongo";
import { cacheRoot } from "@resultstore/celery-interop";
import { serverTarget } from "@resultstore/conformance";
import { createStore, type ResultStore } from "@resultstore/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DRIVER_DIR, PACKAGE_DIR, run } from "./env.js";

const mongoTarget = serverTarget("MONGO");
const dynamoTarget = serverTarget("DYNAMODB");
/** The Celery series the package declares (celery>=5.5,<5.7), each at its newest release. */
const CELERY_VERSIONS = ["5.5.3", "5.6.3"];
/** `build`, pinned: it makes the sdist, then the wheel from the sdist (as a release would). */
const BUILD = "build==1.6.1";

const pipEnv = {
  ...process.env,
  PIP_DISABLE_PIP_VERSION_CHECK: "1",
  PIP_NO_INPUT: "1",
  PYTHONDONTWRITEBYTECODE: "1",
};
const base = process.env.RESULTSTORE_PYTHON || "python3";
const bin = (venv: string) => join(venv, "bin", "python");

describe.skipIf(!mongoTarget.url || !dynamoTarget.url)(
  `resultstore-celery from its wheel in fresh venvs ${mongoTarget.reason}${dynamoTarget.reason}`,
  () => {
    const work = mkdtempSync(join(tmpdir(), "resultstore-celery-pkg-"));
    const ns = `pkg${randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const mongoUrl = `${(mongoTarget.url ?? "").replace(/\/+$/, "")}/resultstore_celery_pkg`;
    const dynamoUrl = `${(dynamoTarget.url ?? "").replace(/\/+$/, "")}/${ns}`;
    let wheel: string;
    let sdist: string;
    let mongoStore: ResultStore;
    let dynamoStore: ResultStore;

    beforeAll(async () => {
      const started = Date.now();
      // The build tool's venv is cached (it is not what is under test); the artifacts are not.
      const buildVenv = join(cacheRoot(), `python-build-${BUILD.replace(/[^0-9.]/g, "")}`);
      if (!existsSync(join(buildVenv, ".ready"))) {
        rmSync(buildVenv, { recursive: true, force: true });
        await run(base, ["-m", "venv", buildVenv], pipEnv);
        await run(bin(buildVenv), ["-m", "pip", "install", BUILD], pipEnv);
        await run(bin(buildVenv), [
          "-c",
          "open(__import__('sys').argv[1], 'w').close()",
          join(buildVenv, ".ready"),
        ]);
      }
      await run(
        bin(buildVenv),
        ["-m", "build", "--outdir", join(work, "dist"), PACKAGE_DIR],
        pipEnv,
      );
      const files = readdirSync(join(work, "dist"));
      wheel = join(work, "dist", files.find((f) => f.endsWith(".whl")) as string);
      sdist = join(work, "dist", files.find((f) => f.endsWith(".tar.gz")) as string);
      console.error(`[resultstore-celery] python -m build: ${Date.now() - started} ms`);
      mongoStore = await createStore({
        url: mongoUrl,
        backends: [mongo],
        backendOptions: { namespace: ns },
      });
      dynamoStore = await createStore(dynamoUrl, { backends: [dynamodb] });
      await dynamoStore.getMeta("warm-up");
    }, 900_000);
    afterAll(async () => {
      for (const store of [mongoStore, dynamoStore]) {
        await (store?.backend as { destroy?: () => Promise<void> })?.destroy?.().catch(() => {});
        await store?.close();
      }
      rmSync(work, { recursive: true, force: true });
    });

    it("the wheel and the sdist hold the package, py.typed and the entry point", async () => {
      const listing = await run(base, [
        "-c",
        "import sys, zipfile, tarfile; print('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist())); print('\\n'.join(tarfile.open(sys.argv[2]).getnames()))",
        wheel,
        sdist,
      ]);
      expect(listing).toContain("resultstore_celery/py.typed");
      expect(listing).toContain("resultstore_celery/mongodb.py");
      expect(listing).toMatch(/resultstore_celery-0\.1\.0\.dist-info\/entry_points\.txt/);
      expect(listing).toMatch(/resultstore_celery-0\.1\.0\/src\/resultstore_celery\/dynamodb\.py/);
      const entryPoints = await run(base, [
        "-c",
        "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(z.read('resultstore_celery-0.1.0.dist-info/entry_points.txt').decode())",
        wheel,
      ]);
      expect(entryPoints).toContain("[celery.result_backends]");
      expect(entryPoints).toContain("resultstore = resultstore_celery.factory:backend_for_url");
    });

    for (const version of CELERY_VERSIONS) {
      it(`Celery ${version}: pip install "<wheel>[mongodb,dynamodb]" in a fresh venv, then the smoke test`, async () => {
        const started = Date.now();
        const venv = join(work, `venv-celery-${version}`);
        await run(base, ["-m", "venv", venv], pipEnv);
        await run(
          bin(venv),
          [
            "-m",
            "pip",
            "install",
            "--prefer-binary",
            `${wheel}[mongodb,dynamodb]`,
            `celery==${version}`,
          ],
          pipEnv,
        );
        const installed = Date.now() - started;
        const ids = [`pkg-m-${randomUUID()}`, `pkg-d-${randomUUID()}`];
        const targets = [
          {
            url: mongoUrl,
            task_id: ids[0],
            settings: {
              mongodb_backend_settings: {
                taskmeta_collection: `${ns}_taskmeta`,
                groupmeta_collection: `${ns}_groupmeta`,
              },
            },
          },
          { url: dynamoUrl, task_id: ids[1] },
        ];
        // From the work directory, with nothing of the repository on the path: only the install.
        const out = await run(bin(venv), [join(DRIVER_DIR, "smoke.py"), JSON.stringify(targets)], {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          AWS_EC2_METADATA_DISABLED: "true",
        });
        const answer = JSON.parse(out.slice(out.indexOf("{")));
        console.error(
          `[resultstore-celery] Celery ${answer.celery}: venv + install ${installed} ms, total ${Date.now() - started} ms`,
        );
        expect(answer.celery).toBe(version);
        expect(answer.targets.map((t: { backend: string }) => t.backend)).toEqual([
          "resultstore_celery.mongodb.MongoBackend",
          "resultstore_celery.dynamodb.DynamoDBBackend",
        ]);
        for (const target of answer.targets)
          expect(target).toMatchObject({
            status: "SUCCESS",
            result: 42,
            metadata: { tenant: "acme" },
          });
        for (const [store, id] of [
          [mongoStore, ids[0]],
          [dynamoStore, ids[1]],
        ] as const) {
          const meta = await store.getMeta(id as string);
          expect(meta).toMatchObject({
            status: "SUCCESS",
            result: 42,
            metadata: { tenant: "acme" },
            name: "smoke.add",
          });
          expect((await store.markStarted(id as string)).applied).toBe(false);
        }
      });
    }
  },
);
