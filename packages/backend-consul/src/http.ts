/**
 * The HTTP layer: Consul's API over node:http(s) with keep-alive (no dependency, TLS with a CA),
 * or over a `fetch` the caller built. Errors carry the status, never the ACL token.
 */
import http from "node:http";
import https from "node:https";
import type { ConsulConfig } from "./config.js";
import { errors, TransportFailure } from "./errors.js";

export interface HttpResponse {
  status: number;
  body: string;
}

/** Query values: `true` sends a bare flag (`?consistent`), undefined leaves the key out. */
export type Query = Record<string, string | number | true | undefined>;

/** Encodes a key for a URL path: each segment escaped, the slashes kept. */
export function keyPath(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}

export class ConsulHttp {
  private readonly agent: http.Agent | undefined;

  constructor(private readonly config: ConsulConfig) {
    if (config.fetch) return;
    // Keep-alive: every operation is one or two small requests, so connection reuse is most of
    // the latency. 64 sockets matches the widest concurrency we expect from one process.
    const base = { keepAlive: true, maxSockets: 64 };
    this.agent =
      config.scheme === "https"
        ? new https.Agent({
            ...base,
            ...config.tls,
            servername: config.tls.servername ?? config.host,
          })
        : new http.Agent(base);
  }

  /** `change`: the request asks for a change, so a failure after sending leaves it unknown. */
  async request(
    method: string,
    path: string,
    query: Query = {},
    body?: string,
    change = false,
  ): Promise<HttpResponse> {
    const url = this.url(path, query);
    const headers: Record<string, string> = {};
    if (this.config.token) headers["X-Consul-Token"] = this.config.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let sent = false;
    try {
      return this.config.fetch
        ? await this.viaFetch(this.config.fetch, method, url, headers, body)
        : await this.viaNode(method, url, headers, body, () => {
            sent = true;
          });
    } catch (cause) {
      // Our own client sends each request once; a caller's fetch may retry by itself.
      const ownClient = !this.config.fetch;
      const failure = new TransportFailure(this.config.baseUrl, cause, { ownClient, change, sent });
      throw errors.wrapError(failure, `${method} ${path}`);
    }
  }

  close(): void {
    this.agent?.destroy();
  }

  private url(path: string, query: Query): string {
    const params: string[] = [];
    if (this.config.datacenter) params.push(`dc=${encodeURIComponent(this.config.datacenter)}`);
    for (const [key, value] of Object.entries(query)) {
      if (value === true) params.push(key);
      else if (value !== undefined) params.push(`${key}=${encodeURIComponent(String(value))}`);
    }
    return `${this.config.baseUrl}${path}${params.length ? `?${params.join("&")}` : ""}`;
  }

  private async viaFetch(
    fetch: NonNullable<ConsulConfig["fetch"]>,
    method: string,
    url: string,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<HttpResponse> {
    const response = await fetch(url, {
      method,
      headers,
      body,
      signal: AbortSignal.timeout(this.config.requestTimeoutMs),
    });
    return { status: response.status, body: await response.text() };
  }

  private viaNode(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: string | undefined,
    onSent: () => void,
  ): Promise<HttpResponse> {
    const transport = this.config.scheme === "https" ? https : http;
    if (body !== undefined) headers["Content-Length"] = String(Buffer.byteLength(body));
    return new Promise((resolve, reject) => {
      const req = transport.request(url, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      });
      req.setTimeout(this.config.requestTimeoutMs, () => {
        req.destroy(Object.assign(new Error("request timed out"), { code: "ETIMEDOUT" }));
      });
      req.on("error", reject);
      // The whole request is handed to the socket: from here a failure may follow its arrival.
      req.on("finish", onSent);
      req.end(body);
    });
  }
}
