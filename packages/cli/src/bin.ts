#!/usr/bin/env node
/** The `resultstore` command. */
import { parseArgs } from "node:util";
import { createStore, ResultStoreError } from "@resultstore/core";
import { runConformance } from "./conformance.js";
import { runDemo } from "./demo.js";

const USAGE = `usage:
  resultstore demo [--url URL]                 the producer/worker/chord scenario (default memory://)
  resultstore inspect <taskId> --url URL       print one task's stored meta as JSON
  resultstore conformance --url URL            run the conformance suite against your server`;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { url: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  switch (command) {
    case "demo":
      await runDemo(values.url ?? "memory://");
      return 0;
    case "inspect": {
      if (!rest[0] || !values.url) throw new UsageError("inspect needs a task id and --url");
      const store = await createStore(values.url);
      try {
        console.log(
          JSON.stringify(
            await store.getMeta(rest[0]),
            (_k, v) => (typeof v === "bigint" ? `${v}` : v),
            2,
          ),
        );
      } finally {
        await store.close();
      }
      return 0;
    }
    case "conformance":
      if (!values.url) throw new UsageError("conformance needs --url");
      return (await runConformance(values.url)) ? 0 : 1;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) console.error(`${error.message}\n\n${USAGE}`);
    else if (error instanceof ResultStoreError) console.error(error.message);
    else console.error(error);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  },
);
