// The scale runs' pure helpers (bench/scale.mjs, bench/all.mjs, report.mjs; bench/test/scale.test.mjs):
// the sizes and named URLs of the command line, and how a growth run's figures moved.

/** `--sizes 10000,100000`: whole numbers > 0, strictly ascending (the load is cumulative). */
export function parseSizes(text) {
  const sizes = String(text)
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  if (!sizes.length) throw new Error(`no sizes in "${text}"`);
  sizes.forEach((n, i) => {
    if (!Number.isSafeInteger(n) || n <= 0)
      throw new Error(`size "${n}" is not a whole number > 0`);
    if (i > 0 && n <= sizes[i - 1]) throw new Error(`sizes must ascend: ${sizes.join(",")}`);
  });
  return sizes;
}

/**
 * `--scale-urls mongo=mongodb://h1,h2/?replicaSet=rs,consul=consul://h:8500` → [{name, url}]. A
 * comma starts a new entry only where a `name=` follows it, so a URL may hold commas (a Mongo
 * seed list); the URL is everything after the first `=`.
 */
export function parseNamedUrls(text) {
  if (!text) return [];
  return String(text)
    .split(/,(?=\s*[A-Za-z][\w-]*=)/)
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const eq = entry.indexOf("=");
      const name = entry.slice(0, eq).trim();
      const url = entry.slice(eq + 1).trim();
      if (eq <= 0 || !/^[A-Za-z][\w-]*$/.test(name) || !/^[a-z][\w+.-]*:\/\//i.test(url))
        throw new Error(`expected name=url, got "${entry}"`);
      return { name, url };
    });
}

/** 10000 → "10k", 1000000 → "1M", 2500 → "2.5k", 500 → "500". */
export function shortCount(n) {
  if (n >= 1e6) return `${Number((n / 1e6).toFixed(2))}M`;
  if (n >= 1e3) return `${Number((n / 1e3).toFixed(1))}k`;
  return String(n);
}

/**
 * A growth run's last step against its first: each rate as last ÷ first (1 = flat, < 1 = slower
 * with more records), RSS likewise; undefined where either side is missing.
 */
export function growthRatios(steps) {
  if (!steps?.length) return undefined;
  const first = steps[0];
  const last = steps[steps.length - 1];
  const of = (a, b) => (a && b ? a / b : undefined);
  return {
    from: first.records,
    to: last.records,
    store: of(last.store?.opsPerSec, first.store?.opsPerSec),
    get: of(last.get?.opsPerSec, first.get?.opsPerSec),
    getMany: of(last.getMany?.opsPerSec, first.getMany?.opsPerSec),
    rss: of(last.rssMiB, first.rssMiB),
    peakRss: of(last.peakRssMiB, first.peakRssMiB),
  };
}
