/**
 * For backends' URL tests: passwords a user may paste unencoded, and everything an error shows,
 * so a test can check that no part of a secret reaches a message, a cause or a property.
 */
import { inspect } from "node:util";
import { ConfigurationError } from "@resultstore/core";

/** What every entry of {@link UNENCODED_SECRETS} holds, so a test can look for it. */
export const SECRET_MARK = "S3CR";

/** Passwords pasted unencoded: each holds a character that ends a URL's host part or query value. */
export const UNENCODED_SECRETS: readonly string[] = [
  "ab/S3CRx",
  "12/S3CRx", // "user:12" parses as host and port, so the rest becomes the path
  "ab?S3CRx",
  "ab#S3CRx",
  "ab@cd/S3CRx",
  "9@h/S3CRx",
];

/**
 * Everything the ConfigurationError `fn` throws shows: message, stack, the cause chain, enumerable
 * and hidden properties. Throws when `fn` does not throw a ConfigurationError.
 */
export function configurationErrorText(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    return inspect(error, { depth: 10, showHidden: true });
  }
  throw new Error("expected a ConfigurationError");
}
