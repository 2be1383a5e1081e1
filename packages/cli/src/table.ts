/** Plain-text tables for terminals: no dependency, widths from the content. */

export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** One-line JSON, shortened to `max` characters. */
export function brief(value: unknown, max = 40): string {
  const text = JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `${v}` : v)) ?? "null";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
