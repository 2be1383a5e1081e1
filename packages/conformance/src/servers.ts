/**
 * Which real server a backend's tests talk to. In CI (`CI` set) a missing server is a failure,
 * never a skip; on a laptop it is skipped with a loud line saying why.
 */

export interface ServerTarget {
  /** The URL from RESULTSTORE_<NAME>_URL, or undefined when the tests must skip. */
  url: string | undefined;
  /** Why it is skipped, for `it.skipIf` titles. */
  reason: string;
}

/** `server` is the services name when it differs from the lower-cased `envName` ("mongo-java"). */
export function serverTarget(envName: string, server = envName.toLowerCase()): ServerTarget {
  const variable = `RESULTSTORE_${envName}_URL`;
  const url = process.env[variable];
  if (url) return { url, reason: "" };
  const reason = `${variable} is not set: start it with \`npm run services -- up ${server}\``;
  if (process.env.CI) {
    throw new Error(
      `[resultstore] In CI every backend runs against its real server, but ${reason}.`,
    );
  }
  console.warn(`\n  !!! SKIPPING ${envName} backend tests: ${reason}\n`);
  return { url: undefined, reason };
}
