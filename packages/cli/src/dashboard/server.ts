/**
 * The dashboard's HTTP server: the page and its assets (all shipped in this package, nothing from
 * a CDN) and a read-only JSON API over one store — counts by state, one page of `find`, one task
 * with its group. Only GET and HEAD are answered: nothing here writes to the store.
 */
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  ConfigurationError,
  InvalidIdError,
  InvalidQueryError,
  type ResultStore,
  UnsupportedOperationError,
} from "@resultstore/core";
import { maskSecrets } from "../secrets.js";
import {
  allowedHosts,
  carriesToken,
  isLoopbackHost,
  MIN_TOKEN_LENGTH,
  sameText,
  tokenCookie,
} from "./access.js";
import { childTaskIds } from "./children.js";
import { countFilter, findRequest } from "./query.js";

/** How to serve a dashboard. */
export interface DashboardOptions {
  /** The address to bind. @default "127.0.0.1" */
  host?: string;
  /** The port; 0 picks a free one. @default 5555 */
  port?: number;
  /** Required on any address that is not loopback; optional (and then enforced) on loopback. */
  token?: string;
  /** How often the page refreshes itself while "live" is on. @default 3 */
  refreshSeconds?: number;
  /** The store's URL, shown masked in the page header and masked out of error messages. */
  url?: string;
}

/** A running dashboard. */
export interface Dashboard {
  /** The page's address (with `?token=` when a token is set: open it once, the cookie stays). */
  readonly url: string;
  readonly server: Server;
  /** Stops serving; the store stays open (it is the caller's). */
  close(): Promise<void>;
}

/** At most this many of a group's members are read for the task view (their states). */
const GROUP_MEMBERS_SHOWN = 100;

const ASSETS: Record<string, string> = {
  "app.js": "text/javascript; charset=utf-8",
  "app.css": "text/css; charset=utf-8",
  "favicon.svg": "image/svg+xml",
};
const ASSET_DIR = new URL("../../assets/dashboard/", import.meta.url);

/** The page may load only its own scripts, styles and API: injected markup can do nothing. */
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

/** Serves the dashboard for `store` until `close()`; resolves once it listens. */
export async function startDashboard(
  store: ResultStore,
  options: DashboardOptions = {},
): Promise<Dashboard> {
  const host = options.host ?? "127.0.0.1";
  const token = options.token;
  checkToken(host, token);
  const settings = {
    store,
    token,
    refreshSeconds: options.refreshSeconds ?? 3,
    url: options.url,
    hosts: new Set<string>(),
  };
  const server = createServer((request, response) => {
    handle(request, response, settings).catch((error: unknown) => {
      if (!response.headersSent) sendJson(response, 500, { error: errorText(error, settings.url) });
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 5555, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  for (const name of allowedHosts(host, port)) settings.hosts.add(name);
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/${token ? `?token=${encodeURIComponent(token)}` : ""}`,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** A token is required off loopback, and must be long enough to be one. */
function checkToken(host: string, token: string | undefined): void {
  if (token === undefined && !isLoopbackHost(host))
    throw new ConfigurationError(
      "dashboard",
      `it binds ${host}, which other machines can reach: give it a token of at least ${MIN_TOKEN_LENGTH} characters`,
    );
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH)
    throw new ConfigurationError(
      "dashboard",
      `the token must be at least ${MIN_TOKEN_LENGTH} characters, got ${token.length}`,
    );
}

interface Settings {
  store: ResultStore;
  token: string | undefined;
  refreshSeconds: number;
  url: string | undefined;
  hosts: Set<string>;
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  settings: Settings,
): Promise<void> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.setHeader("allow", "GET, HEAD");
    return sendJson(response, 405, { error: "the dashboard is read-only" });
  }
  if (!settings.hosts.has((request.headers.host ?? "").toLowerCase()))
    return sendJson(response, 421, { error: "this Host is not the dashboard's address" });
  const address = new URL(request.url ?? "/", "http://dashboard");
  const path = address.pathname;
  if (settings.token !== undefined && !carriesToken(request, settings.token)) {
    // The first visit brings the token in the address; the cookie carries it from then on, and
    // the redirect takes it out of the address bar (and out of the history).
    if (path === "/" && sameText(address.searchParams.get("token") ?? undefined, settings.token)) {
      response.writeHead(303, { location: "/", "set-cookie": tokenCookie(settings.token) });
      return void response.end();
    }
    return sendJson(response, 401, {
      error: "open the address `resultstore ui` printed, with its token",
    });
  }
  if (path === "/" || path === "/index.html")
    return sendAsset(response, "index.html", "text/html; charset=utf-8");
  if (path.startsWith("/assets/")) {
    const name = path.slice("/assets/".length);
    const type = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    return type
      ? sendAsset(response, name, type)
      : sendJson(response, 404, { error: "no such asset" });
  }
  if (path.startsWith("/api/"))
    return api(path.slice("/api/".length), address.searchParams, response, settings);
  sendJson(response, 404, { error: "not found" });
}

async function api(
  route: string,
  params: URLSearchParams,
  response: ServerResponse,
  settings: Settings,
): Promise<void> {
  const { store } = settings;
  try {
    if (route === "info")
      return sendJson(response, 200, {
        backend: store.backend.name,
        url: settings.url === undefined ? null : maskSecrets(settings.url, settings.url),
        refreshSeconds: settings.refreshSeconds,
      });
    if (route === "stats") {
      const counts = await store.countByState(countFilter(params, Date.now()));
      const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
      return sendJson(response, 200, { counts, total });
    }
    if (route === "tasks") {
      const { filter, options } = findRequest(params, Date.now());
      return sendJson(response, 200, await store.find(filter, options));
    }
    if (route.startsWith("tasks/")) {
      const taskId = decodeURIComponent(route.slice("tasks/".length));
      return sendJson(response, 200, await taskView(store, taskId));
    }
    sendJson(response, 404, { error: "not found" });
  } catch (error) {
    const status =
      error instanceof InvalidQueryError || error instanceof InvalidIdError
        ? 400
        : error instanceof UnsupportedOperationError
          ? 501
          : 502;
    sendJson(response, status, { error: errorText(error, settings.url) });
  }
}

/** One task, its group's members with their states, and the ids its `children` name. */
async function taskView(store: ResultStore, taskId: string) {
  const task = await store.getMeta(taskId);
  const group = task.groupId ? await store.restoreGroup(task.groupId).catch(() => null) : null;
  const members = group ? await store.getMany(group.taskIds.slice(0, GROUP_MEMBERS_SHOWN)) : [];
  return {
    task,
    children: childTaskIds(task.children),
    group: group && {
      groupId: group.groupId,
      size: group.taskIds.length,
      members: members.map((m) => ({ taskId: m.taskId, status: m.status })),
    },
  };
}

async function sendAsset(response: ServerResponse, name: string, type: string): Promise<void> {
  const body = await readFile(new URL(name, ASSET_DIR));
  response.writeHead(200, { ...SECURITY_HEADERS, "content-type": type });
  response.end(body);
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, (_key, value) =>
    typeof value === "bigint" ? value.toString() : value,
  );
  response.writeHead(status, {
    ...SECURITY_HEADERS,
    "content-type": "application/json; charset=utf-8",
  });
  response.end(text);
}

/** An error's message for the page, with the store URL's secrets masked out. */
function errorText(error: unknown, url: string | undefined): string {
  const message = error instanceof Error ? error.message : String(error);
  return maskSecrets(message, url);
}
