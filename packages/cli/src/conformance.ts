/** `resultstore conformance --url URL`: the suite against a user's own server, in its own namespace. */
import { randomUUID } from "node:crypto";
import { ConfigurationError, createStore, sanitizeUrl } from "@resultstore/core";

export async function runConformance(
  url: string,
  print: (line: string) => void = console.log,
): Promise<boolean> {
  const { createRunner, runConformanceSuite } = await importConformance();
  const namespace = `conformance_${randomUUID().slice(0, 8)}`;
  const runner = createRunner(120_000);
  runConformanceSuite(runner, {
    name: sanitizeUrl(url),
    // Every store of the run shares one namespace prefix; each group's store is dropped after it.
    createStore: (options) =>
      createStore({
        url,
        ...options,
        backendOptions: { namespace: `${namespace}_${randomUUID().slice(0, 4)}` },
      }),
  });
  print(`running the conformance suite against ${sanitizeUrl(url)} (namespace ${namespace}*)`);
  const results = await runner.run((result, index, total) => {
    const mark = result.ok ? "ok  " : "FAIL";
    print(`[${String(index).padStart(3)}/${total}] ${mark} ${result.name} (${result.ms} ms)`);
    if (!result.ok)
      print(
        `       ${String((result.error as Error)?.message ?? result.error)
          .split("\n")
          .join("\n       ")}`,
      );
  });
  const failed = results.filter((r) => !r.ok).length;
  print("");
  print(`${results.length - failed} passed, ${failed} failed`);
  return failed === 0;
}

/** The suite is an optional peer: only this command needs it. */
async function importConformance(): Promise<typeof import("@resultstore/conformance")> {
  try {
    return await import("@resultstore/conformance");
  } catch (cause) {
    throw new ConfigurationError(
      "cli",
      '`resultstore conformance` needs the module "@resultstore/conformance", which is not ' +
        "installed: npm install @resultstore/conformance",
      { cause },
    );
  }
}
