/** The task filter flags `ls` and `stats` share: `--name`, `--meta k=v`, `--since 1h`, and `ls`'s `--state`. */
import type { MetadataScalar, TaskFilter } from "@resultstore/core";
import { type Command, type OptionSpec, type Parsed, UsageError } from "./command.js";

/** The filter flags, in parseArgs form (`--state` only where `withState`). */
export function filterOptions(withState: boolean): OptionSpec {
  return {
    ...(withState && { state: { type: "string", multiple: true } }),
    name: { type: "string" },
    meta: { type: "string", multiple: true },
    since: { type: "string" },
    after: { type: "string" },
  };
}

/** Their lines in `--help`. */
export function filterHelp(withState: boolean): string[] {
  return [
    ...(withState
      ? ["  --state S[,S…]   only these states, e.g. FAILURE,REVOKED (repeatable; any case)"]
      : []),
    "  --name NAME      only tasks of this name, e.g. tasks.send_email",
    "  --meta KEY=VALUE only tasks whose metadata KEY holds VALUE (repeatable: all must match);",
    '                   42, true and false compare as number and boolean, "42" (quoted) as text',
    "  --since AGE      only tasks last written within AGE: 90s, 30m, 1h, 2d, 1w",
    "  --after TIME     only tasks last written at or after TIME (ISO 8601, e.g. 2026-01-31T12:00Z)",
  ];
}

const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** The filter the flags describe; a `UsageError` for one that does not parse. */
export function parseFilter(
  parsed: Parsed,
  command: Command,
  now: number = Date.now(),
): TaskFilter {
  const filter: { -readonly [K in keyof TaskFilter]: TaskFilter[K] } = {};
  const states = stateNames((parsed.values.state as string[] | undefined) ?? []);
  if (states.length) filter.state = states;
  if (typeof parsed.values.name === "string") filter.name = parsed.values.name;
  const meta = parsed.values.meta as string[] | undefined;
  if (meta?.length)
    filter.metadata = Object.fromEntries(meta.map((pair) => metaPair(pair, command)));
  const { since, after } = parsed.values;
  if (typeof since === "string" && typeof after === "string")
    throw new UsageError("give --since or --after, not both", command);
  if (typeof after === "string") {
    const time = isoTime(after);
    if (!time)
      throw new UsageError(
        `--after takes an ISO 8601 time like 2026-01-31T12:00Z, got "${after}"`,
        command,
      );
    filter.after = time;
  }
  if (typeof since === "string") {
    const start = sinceAge(since, now);
    if (!start)
      throw new UsageError(
        `--since takes an age like 90s, 30m, 1h, 2d or 1w, got "${since}"`,
        command,
      );
    filter.after = start;
  }
  return filter;
}

/** `key=value`: a JSON number, true or false as such, a quoted JSON string as its text, else the text. */
function metaPair(pair: string, command: Command): [string, MetadataScalar] {
  const at = pair.indexOf("=");
  if (at <= 0) throw new UsageError(`--meta takes KEY=VALUE, got "${pair}"`, command);
  return [pair.slice(0, at), metadataValue(pair.slice(at + 1))];
}

/**
 * What the text after `KEY=` compares as: a JSON number, `true` or `false` as such, a quoted JSON
 * string as its text, anything else as the text itself (shared by `--meta` and the dashboard).
 */
export function metadataValue(text: string): MetadataScalar {
  if (/^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|".*")$/.test(text)) {
    try {
      const json: unknown = JSON.parse(text);
      if (typeof json === "string" || typeof json === "boolean" || Number.isFinite(json))
        return json as MetadataScalar;
    } catch {
      // Not JSON after all ("a"b"): the text as it is.
    }
  }
  return text;
}

/** The start of an age like 90s, 30m, 1h, 2d or 1w counted back from `now`; null when it does not parse. */
export function sinceAge(age: string, now: number): Date | null {
  const match = /^(\d+)([smhdw])$/.exec(age.trim());
  if (!match) return null;
  return new Date(now - Number(match[1]) * (UNIT_MS[match[2] as string] as number));
}

/** State names from repeatable, comma separated values, in any case (shared with the dashboard). */
export function stateNames(values: readonly string[]): string[] {
  return values
    .flatMap((value) => value.split(","))
    .map((state) => state.trim().toUpperCase())
    .filter(Boolean);
}

/** An ISO 8601 time (a date first, as `Date.parse` takes much else); null when it is not one. */
export function isoTime(text: string): Date | null {
  const time = Date.parse(text);
  return /^\d{4}-\d\d-\d\d/.test(text) && !Number.isNaN(time) ? new Date(time) : null;
}
