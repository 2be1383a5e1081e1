/**
 * Who may read the dashboard. It binds loopback by default; on any other address it requires a
 * token, which a browser brings once in the address (`/?token=…`) and then as an HttpOnly cookie.
 * On every address the Host header must name the dashboard itself, so a web page on another
 * origin cannot reach a loopback dashboard through a DNS name it rebinds to 127.0.0.1.
 */
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";

/** The cookie that carries the token after the first visit. */
export const TOKEN_COOKIE = "resultstore_token";

/** Shorter tokens are refused: the dashboard shows every task's result to whoever has it. */
export const MIN_TOKEN_LENGTH = 16;

/** Whether `host` (a name or an address to bind) reaches only this machine. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "");
  if (bare === "localhost") return true;
  if (isIP(bare) === 4) return bare.startsWith("127.");
  if (isIP(bare) === 6) return bare === "::1";
  return false;
}

/** The Host header values a request may carry for a dashboard bound to `host`:`port`. */
export function allowedHosts(host: string, port: number): Set<string> {
  const named = isIP(host) === 6 ? `[${host}]` : host;
  const names = isLoopbackHost(host) ? [named, "localhost", "127.0.0.1", "[::1]"] : [named];
  return new Set(names.map((name) => `${name}:${port}`.toLowerCase()));
}

/** Whether `request` carries `token`, as a bearer header or as the dashboard's cookie. */
export function carriesToken(request: IncomingMessage, token: string): boolean {
  const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? "")?.[1];
  return sameText(bearer, token) || sameText(cookie(request, TOKEN_COOKIE), token);
}

/** Compares in time independent of where the texts differ, so a guess learns nothing. */
export function sameText(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The `Set-Cookie` value that keeps `token` for this dashboard's pages and API. */
export function tokenCookie(token: string): string {
  return `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`;
}

function cookie(request: IncomingMessage, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? "").split(";")) {
    const at = part.indexOf("=");
    if (at > 0 && part.slice(0, at).trim() === name) {
      try {
        return decodeURIComponent(part.slice(at + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
