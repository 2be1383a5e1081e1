/**
 * Everything the CLI prints passes through `maskSecrets`: a driver's error may quote the URL it
 * was given, user name and password included, and DynamoDB's user name is an access key id.
 */
import { sanitizeUrl } from "@resultstore/core/backend";

/** Secrets shorter than this are not replaced by value (they would blank ordinary words). */
const MIN_SECRET_LENGTH = 4;
const SECRET_QUERY =
  /^(?:password|pass|pwd|secret|key|token|apikey|api_key|accesskey|masterkey|sig|signature|credentials?)$/i;

/** `text` with the user part of every URL in it, and each secret of `url`, replaced by `***`. */
export function maskSecrets(text: string, url?: string): string {
  let masked = text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@'"`]+@/gi, "$1***@");
  for (const secret of url ? secretsOf(url) : []) masked = masked.split(secret).join("***");
  return masked;
}

/** The URL for display: user part and secret query values masked. */
export const displayUrl = (url: string): string => maskSecrets(sanitizeUrl(url), url);

function secretsOf(url: string): string[] {
  const found = new Set<string>();
  const add = (value: string) => {
    if (value.length < MIN_SECRET_LENGTH) return;
    found.add(value);
    try {
      found.add(decodeURIComponent(value));
    } catch {
      // not percent-encoded
    }
  };
  try {
    const parsed = new URL(url);
    add(parsed.username);
    add(parsed.password);
    for (const [key, value] of parsed.searchParams) if (SECRET_QUERY.test(key)) add(value);
  } catch {
    const userInfo = /:\/\/([^@]*)@/.exec(url)?.[1] ?? "";
    for (const part of userInfo.split(":")) add(part);
  }
  // Longest first, so a secret containing another is replaced whole.
  return [...found].sort((a, b) => b.length - a.length);
}
