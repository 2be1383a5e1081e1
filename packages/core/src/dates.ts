/** Reading and writing `date_done` in every format Celery 5.x has stored. */

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Parses what Celery stored as `date_done`: ISO text with `+00:00`, another offset or `Z` (5.4+),
 * naive text that means UTC (5.0–5.3), a BSON/JS Date, or epoch seconds/milliseconds.
 * Fractions beyond milliseconds are truncated (JS dates hold milliseconds).
 */
export function parseCeleryDate(value: unknown): Date | null {
  if (value === null || value === undefined || value === "") return null;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value;
  if (typeof value === "number") return new Date(value > 1e11 ? value : value * 1000);
  if (typeof value !== "string") return null;
  const m = ISO.exec(value.trim());
  if (!m) return null;
  const [, y, mo, d, h = "0", mi = "0", s = "0", frac = "", zone] = m;
  const ms = Number(`${frac}000`.slice(0, 3));
  let time = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  if (zone && zone !== "Z" && zone !== "z") {
    const sign = zone.startsWith("-") ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    const offsetMin = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || "0");
    time -= sign * offsetMin * 60_000;
  }
  const date = new Date(time);
  return Number.isNaN(date.getTime()) ? null : date;
}

/**
 * Python's `datetime.isoformat()` for an aware UTC datetime: microseconds only when non-zero,
 * `+00:00` rather than `Z` (Python < 3.11 `fromisoformat` rejects `Z`).
 */
export function formatCeleryDate(date: Date): string {
  const iso = date.toISOString(); // 2024-05-01T12:00:00.123Z
  const ms = date.getUTCMilliseconds();
  const base = iso.slice(0, 19);
  return ms === 0 ? `${base}+00:00` : `${base}.${String(ms).padStart(3, "0")}000+00:00`;
}
