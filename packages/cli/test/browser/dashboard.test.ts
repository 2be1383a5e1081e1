/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The functions passed to page.waitForFunction and $$eval run in the page, hence the DOM types.
/**
 * The dashboard in a real headless Chromium against every real database (and memory://): the page
 * loads, the counts and the table show what was stored, a metadata filter narrows the table, and a
 * task's view shows its result, metadata and group. Any page error, console error, failed request
 * or HTTP error answer fails the test. The mongo run writes the screenshot the README shows.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { serverTarget } from "@resultstore/conformance";
import { createStore, type ResultStore } from "@resultstore/core";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runLs, runStats, startDashboard } from "../../src/index.js";
import { capture } from "../helpers.js";
import { chromiumTarget } from "./chromium.js";

/** Waits are for a loaded 2-core machine running JVM servers, never for a fast answer. */
const WAIT_MS = 45_000;
const SCREENSHOT = new URL("../../../../docs/dashboard.png", import.meta.url);

interface Database {
  label: string;
  url: string | undefined;
  reason: string;
  backendOptions?: Record<string, unknown>;
}

function databases(): Database[] {
  const cosmosCa = process.env.RESULTSTORE_COSMOS_CA;
  const named = (label: string, env: string, backendOptions?: Record<string, unknown>) => ({
    label,
    ...serverTarget(env, label),
    ...(backendOptions && { backendOptions }),
  });
  return [
    { label: "memory", url: "memory://", reason: "" },
    named("mongo", "MONGO"),
    named("cassandra", "CASSANDRA"),
    named("dynamodb", "DYNAMODB"),
    named("elasticsearch", "ELASTICSEARCH"),
    named("consul", "CONSUL"),
    named("cosmos", "COSMOS", cosmosCa ? { ca: readFileSync(cosmosCa) } : undefined),
  ];
}

const browserTarget = chromiumTarget();
let browser: Browser | undefined;

beforeAll(async () => {
  if (browserTarget.executable)
    browser = await chromium.launch({
      executablePath: browserTarget.executable,
      // CI runs as root, where Chromium's sandbox cannot start.
      args: ["--no-sandbox", "--disable-dev-shm-usage"],
    });
}, WAIT_MS);
afterAll(async () => browser?.close());

/** The tasks each run stores: two tenants, three states, a group, and hostile text. */
async function seed(store: ResultStore): Promise<void> {
  await store.markQueued("upload-1", {
    name: "tasks.upload",
    metadata: { tenant: "acme", user: 42 },
  });
  await store.markSuccess(
    "upload-1",
    { rows: 1200, file: "q3-orders.csv" },
    {
      request: { groupId: "batch-7", worker: "celery@worker-1" },
    },
  );
  await store.markQueued("resize-2", { name: "tasks.resize", metadata: { tenant: "acme" } });
  await store.markStarted(
    "resize-2",
    { pid: 4242, hostname: "celery@worker-2" },
    { request: { groupId: "batch-7" } },
  );
  await store.saveGroup("batch-7", ["upload-1", "resize-2"]);
  await store.markQueued("upload-3", { name: "tasks.upload", metadata: { tenant: "zeta" } });
  await store.markFailure("upload-3", new Error("disk full"));
  // Text that would run as script if the page ever put stored values in as markup.
  await store.markSuccess("hostile-4", "<img src=x onerror=\"document.title='pwned'\">", {
    metadata: { note: "<script>document.title='pwned'</script>" },
  });
}

/** Collects everything that counts as the page failing. */
function watchFailures(page: Page): string[] {
  const failures: string[] = [];
  page.on("pageerror", (error) => failures.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") failures.push(`console error: ${message.text()}`);
  });
  page.on("requestfailed", (request) =>
    failures.push(`request failed: ${request.url()} ${request.failure()?.errorText}`),
  );
  page.on("response", (response) => {
    if (response.status() >= 400) failures.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  page.on("dialog", (dialog) => {
    failures.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  return failures;
}

async function waitForRows(page: Page, ids: string[]): Promise<void> {
  const wanted = [...ids].sort();
  await page.waitForFunction(
    (expected) => {
      const shown = [...document.querySelectorAll<HTMLElement>("#tasks tbody tr")]
        .map((row) => row.dataset.taskId)
        .sort();
      return JSON.stringify(shown) === JSON.stringify(expected);
    },
    wanted,
    { timeout: WAIT_MS },
  );
}

for (const database of databases()) {
  describe.skipIf(!database.url || !browserTarget.executable)(
    `the dashboard in Chromium on ${database.label}${database.reason}${browserTarget.reason}`,
    () => {
      let store: ResultStore;
      const namespace = `ui_${randomUUID().slice(0, 8)}`;

      beforeAll(async () => {
        store = await createStore(database.url as string, {
          backendOptions: { namespace, ...database.backendOptions },
        });
        await seed(store);
      }, WAIT_MS * 2);

      afterAll(async () => {
        if (!store) return;
        if (store.backend.name !== "memory") await store.backend.destroy?.();
        await store.close();
      }, WAIT_MS);

      // A new memory:// store is empty (test/ls.test.ts covers memory through a shared backend).
      it.skipIf(database.label === "memory")(
        "`resultstore ls` and `stats` read the same tasks through the URL",
        async () => {
          const choice = { backendOptions: { namespace, ...database.backendOptions } };
          const io = capture();
          const page = await runLs(database.url as string, io, {
            ...choice,
            filter: { metadata: { tenant: "acme" } },
            json: true,
          });
          expect(page.tasks.map((t) => t.taskId).sort()).toEqual(["resize-2", "upload-1"]);
          expect(io.stdout.map((line) => JSON.parse(line).taskId).sort()).toEqual([
            "resize-2",
            "upload-1",
          ]);
          const report = await runStats(database.url as string, capture(), choice);
          expect(report.counts).toMatchObject({ SUCCESS: 2, FAILURE: 1, STARTED: 1 });
          expect(report.total).toBe(4);
        },
        WAIT_MS,
      );

      it(
        "shows counts and tasks, filters by metadata, and opens a task",
        async () => {
          // memory:// runs with a token, so the token's first visit and cookie are tested too.
          const token = database.label === "memory" ? randomUUID() : undefined;
          const dashboard = await startDashboard(store, {
            port: 0,
            url: database.url as string,
            ...(token && { token }),
          });
          const page = await (browser as Browser).newPage({
            viewport: { width: 1280, height: 720 },
          });
          const failures = watchFailures(page);
          try {
            await page.goto(dashboard.url, { timeout: WAIT_MS });
            if (token) expect(new URL(page.url()).search).toBe(""); // the redirect took it out
            await waitForRows(page, ["upload-1", "resize-2", "upload-3", "hostile-4"]);
            const count = (state: string) =>
              page.textContent(`#counts [data-state="${state}"] strong`);
            expect(await count("SUCCESS")).toBe("2");
            expect(await count("FAILURE")).toBe("1");
            expect(await count("STARTED")).toBe("1");

            await page.fill("#meta", "tenant=acme");
            await page.press("#meta", "Enter");
            await waitForRows(page, ["upload-1", "resize-2"]);
            expect(await page.textContent("#meta-chips")).toContain("tenant=acme");
            await page.waitForFunction(
              () =>
                document.querySelector('#counts [data-state="FAILURE"] strong')?.textContent ===
                "0",
              undefined,
              { timeout: WAIT_MS },
            );
            if (database.label === "mongo") {
              await mkdir(new URL(".", SCREENSHOT), { recursive: true });
              await page.screenshot({ path: SCREENSHOT.pathname, fullPage: true });
            }

            await page.click('#tasks tbody tr[data-task-id="upload-1"] a');
            await page.waitForSelector("#task-view:not([hidden])", { timeout: WAIT_MS });
            await page.waitForFunction(
              () => document.querySelector("#task-result")?.textContent?.includes("q3-orders.csv"),
              undefined,
              { timeout: WAIT_MS },
            );
            const metadata = await page.$$eval("#task-metadata tr", (rows) =>
              rows.map((row) => [...row.children].map((cell) => cell.textContent)),
            );
            expect(metadata).toEqual([
              ["tenant", "acme"],
              ["user", "42"],
            ]);
            expect(await page.textContent("#task-title")).toContain("SUCCESS");
            expect(await page.textContent("#task-group")).toContain("resize-2");
            expect(await page.textContent("#task-fields")).toContain("celery@worker-1");

            // The hostile values are shown as text, and nothing ran.
            await page.goto(`${dashboard.url.split("?")[0]}#/task/hostile-4`, { timeout: WAIT_MS });
            await page.waitForFunction(
              () => document.querySelector("#task-result")?.textContent?.includes("onerror"),
              undefined,
              { timeout: WAIT_MS },
            );
            expect(await page.title()).toBe("resultstore");
            expect(await page.$("#task-result img")).toBeNull();
            expect(failures).toEqual([]);
          } finally {
            await page.close();
            await dashboard.close();
          }
        },
        WAIT_MS * 4,
      );
    },
  );
}
