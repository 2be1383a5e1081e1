/**
 * `resultstore ui --url URL [--port 5555] [--host 127.0.0.1] [--token T]`: the dashboard
 * (./dashboard/) over the store at URL, until Ctrl-C.
 */
import { randomBytes } from "node:crypto";
import { type Command, intFlag, requireUrl, URL_HELP, UsageError } from "./command.js";
import { isLoopbackHost, MIN_TOKEN_LENGTH } from "./dashboard/access.js";
import { type Dashboard, startDashboard } from "./dashboard/server.js";
import type { CliIo } from "./io.js";
import { displayUrl } from "./secrets.js";
import { isMemoryUrl, openStore, type StoreChoice } from "./store.js";

/** Where the token may come from instead of the command line, which `ps` shows to everyone. */
export const TOKEN_ENV = "RESULTSTORE_UI_TOKEN";

/** What `runUi` serves and where. */
export interface UiOptions extends StoreChoice {
  host?: string;
  port?: number;
  token?: string;
  /** Resolves when the dashboard should stop (the command: on SIGINT or SIGTERM). */
  until?: Promise<unknown>;
}

/** Serves the dashboard over the store at `url` until `options.until` resolves. */
export async function runUi(url: string, io: CliIo, options: UiOptions = {}): Promise<void> {
  const store = await openStore(url, options);
  let dashboard: Dashboard | undefined;
  try {
    dashboard = await startDashboard(store, {
      url,
      ...(options.host !== undefined && { host: options.host }),
      ...(options.port !== undefined && { port: options.port }),
      ...(options.token !== undefined && { token: options.token }),
    });
    io.err(`dashboard for ${displayUrl(url)} (read-only)`);
    if (isMemoryUrl(url))
      io.err(
        "note: memory:// lives inside one process, so this dashboard's store is new and empty. " +
          "To see an application's memory:// tasks, call startDashboard(store) in that application.",
      );
    io.out(dashboard.url);
    await (options.until ?? new Promise(() => {}));
  } finally {
    await dashboard?.close();
    await store.close();
  }
}

/** `resultstore ui` */
export const uiCommand: Command = {
  name: "ui",
  summary:
    "serve a read-only web dashboard: counts by state, tasks with filters, each task's result",
  usage: "resultstore ui --url URL [--port 5555] [--host 127.0.0.1] [--token T | --new-token]",
  help: [
    URL_HELP,
    "  --port N         the port (default 5555; 0 picks a free one)",
    "  --host H         the address to bind (default 127.0.0.1, this machine only)",
    `  --token T        required on any other address, at least ${MIN_TOKEN_LENGTH} characters;`,
    `                   or set ${TOKEN_ENV} (the command line is visible to other users)`,
    "  --new-token      make a random token and print the address with it",
    "",
    "Prints the page's address (with ?token=… when a token is set: open it once, a cookie keeps",
    "it). Serves until Ctrl-C. Only reads: nothing in the dashboard changes the store.",
  ],
  options: {
    url: { type: "string" },
    port: { type: "string" },
    host: { type: "string" },
    token: { type: "string" },
    "new-token": { type: "boolean" },
  },
  async run(parsed, io) {
    const url = requireUrl(parsed, this);
    const port = intFlag(parsed, "port", this, 0);
    if (port !== undefined && port > 65535)
      throw new UsageError(`--port must be at most 65535, got ${port}`, this);
    const host = typeof parsed.values.host === "string" ? parsed.values.host : "127.0.0.1";
    let token =
      typeof parsed.values.token === "string" ? parsed.values.token : process.env[TOKEN_ENV];
    if (parsed.values["new-token"] === true) {
      if (token !== undefined) throw new UsageError("give --token or --new-token, not both", this);
      token = randomBytes(24).toString("base64url");
    }
    if (token === undefined && !isLoopbackHost(host))
      throw new UsageError(
        `--host ${host} is reachable from other machines: give --token (or ${TOKEN_ENV}) or --new-token`,
        this,
      );
    if (token !== undefined && token.length < MIN_TOKEN_LENGTH)
      throw new UsageError(
        `the token must be at least ${MIN_TOKEN_LENGTH} characters, got ${token.length}`,
        this,
      );
    const until = new Promise((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    await runUi(url, io, {
      host,
      ...(port !== undefined && { port }),
      ...(token !== undefined && { token }),
      until,
    });
    return 0;
  },
};
