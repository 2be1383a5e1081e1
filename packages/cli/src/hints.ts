/** Turns an error into the lines a user can act on: the message, its causes, and a hint. */
import { maskSecrets } from "./secrets.js";

/** The error and its `cause` chain, outermost first. */
function chain(error: unknown): unknown[] {
  const seen: unknown[] = [];
  for (let e = error; e !== undefined && e !== null && !seen.includes(e); ) {
    seen.push(e);
    e = (e as { cause?: unknown }).cause;
  }
  return seen;
}

const nameOf = (e: unknown) => String((e as { name?: unknown })?.name ?? "");
const messageOf = (e: unknown) =>
  e instanceof Error ? e.message : typeof e === "string" ? e : JSON.stringify(e);
const codeOf = (e: unknown) => String((e as { code?: unknown })?.code ?? "");

/** What to do about it, when we can tell. */
export function hintFor(error: unknown, url?: string): string | undefined {
  const errors = chain(error);
  const any = (test: (e: unknown) => boolean) => errors.some(test);
  if (
    any(
      (e) =>
        nameOf(e) === "CredentialsProviderError" ||
        /Could not load credentials/i.test(messageOf(e)),
    )
  ) {
    return (
      "DynamoDB needs credentials: put the key id and secret in the URL (dynamodb://<key id>:<secret>@host:port/table), " +
      "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE). DynamoDB Local " +
      "accepts any non-empty pair."
    );
  }
  if (
    any(
      (e) =>
        /Cannot find (?:package|module) '/.test(messageOf(e)) ||
        codeOf(e) === "ERR_MODULE_NOT_FOUND",
    )
  ) {
    return "install the module named above where the CLI runs (beside @resultstore/cli), then try again.";
  }
  if (any((e) => ["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ETIMEDOUT"].includes(codeOf(e)))) {
    return `nothing answered at ${url ? hostOf(url) : "the server"}: is the server running, and is the URL right?`;
  }
  return undefined;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host || url;
  } catch {
    return "the server";
  }
}

/** The lines to print for a failure, secrets masked. */
export function describeError(error: unknown, url?: string): string[] {
  const errors = chain(error);
  const lines = [`error: ${messageOf(errors[0])}`];
  // Each cause the message does not already quote: a driver's own words are often the useful part.
  for (const cause of errors.slice(1)) {
    const text = messageOf(cause);
    if (text && !lines.some((l) => l.includes(text))) lines.push(`  cause: ${text}`);
  }
  const hint = hintFor(error, url);
  if (hint) lines.push(`hint: ${hint}`);
  return lines.map((line) => maskSecrets(line, url));
}
