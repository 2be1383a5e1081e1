// The harness's own logic, free of any database: run an op with N in flight, take medians of
// rounds that alternate between targets. bench/test/measure.test.mjs checks it.

/** Median of a list of numbers (the lower middle for an even count). */
export function median(values) {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** The `p` quantile (0..1) of an ascending list. */
export function quantile(sorted, p) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/**
 * Runs `op(i)` with `width` calls in flight until `count` calls were issued or `maxSeconds`
 * passed (no new call starts after that); the rate counts the calls that finished. A call that
 * throws fails the whole sample: a throughput that hides errors would be a lie.
 * @returns {Promise<{opsPerSec: number, p50: number, p99: number, ops: number}>}
 */
export async function measure(op, { count, width, maxSeconds = Number.POSITIVE_INFINITY }) {
  const latencies = [];
  let next = 0;
  const started = process.hrtime.bigint();
  const deadline = Number.isFinite(maxSeconds)
    ? started + BigInt(Math.round(maxSeconds * 1e9))
    : Number.POSITIVE_INFINITY;
  const worker = async () => {
    while (next < count && process.hrtime.bigint() < deadline) {
      const i = next++;
      const t0 = process.hrtime.bigint();
      await op(i);
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(width, count)) }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  return {
    opsPerSec: latencies.length / seconds,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    ops: latencies.length,
  };
}

/** The sample with the median rate; p50/p99 come from that same sample. */
export function medianSample(samples) {
  if (samples.length === 0) return undefined;
  const byRate = [...samples].sort((a, b) => a.opsPerSec - b.opsPerSec);
  return byRate[Math.floor((byRate.length - 1) / 2)];
}

/**
 * `rounds` rounds; in each, every target runs `sample(target, round)` once, in an order that
 * rotates each round, so a drift in machine load hits every target alike. A target whose sample
 * throws is reported with `error` (its other rounds are skipped) instead of stopping the run.
 * @returns {Promise<Array<{sample?: object, error?: string}>>} one entry per target, same order
 */
export async function alternate(targets, rounds, sample) {
  const samples = targets.map(() => []);
  const errors = targets.map(() => undefined);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < targets.length; k++) {
      const t = (k + round) % targets.length;
      if (errors[t]) continue;
      try {
        samples[t].push(await sample(targets[t], round));
      } catch (error) {
        errors[t] = String(error?.message ?? error)
          .split("\n")[0]
          .slice(0, 160);
      }
    }
  }
  return targets.map((_, t) =>
    errors[t] ? { error: errors[t] } : { sample: medianSample(samples[t]) },
  );
}

/** Why a sample was abandoned: it ran past its time limit (see `withTimeout`). */
export class SampleTimeout extends Error {}

/**
 * `promise`, or a `SampleTimeout` rejection once `seconds` passed (then `onTimeout()` runs, e.g.
 * to stop a child process). A sample stops starting calls after `maxSeconds`, but calls already
 * in flight must finish: on a slow server, 64 in flight of a 100-read op can take minutes, and a
 * call that never answers would stop the whole run. The promise itself cannot be cancelled; the
 * caller decides what to do with it (`orphan`).
 */
export async function withTimeout(promise, seconds, onTimeout) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new SampleTimeout(`did not finish within ${seconds} s`));
    }, seconds * 1000);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `run()` (one sample of `target`), abandoned after `seconds`: the target is then marked
 * `broken` (the caller skips its remaining samples), `target.abort?.()` stops what can be stopped
 * (a Celery process, whose late answer would otherwise be read as the next one's), and this waits
 * up to `drainSeconds` for the abandoned calls, so they do not load the next samples.
 */
export async function sampleWithin(target, label, run, { seconds, drainSeconds = 0, log }) {
  const sample = run();
  try {
    return await withTimeout(sample, seconds, () => target.abort?.());
  } catch (error) {
    if (!(error instanceof SampleTimeout)) throw error;
    target.broken = `${target.kind ?? target.name} ${label} ${error.message}`;
    log?.(`${target.broken}; its remaining samples are skipped`);
    if (drainSeconds > 0) await withTimeout(sample, drainSeconds).catch(() => undefined);
    throw error;
  }
}

/** Ratio a/b of two rates, or undefined when either is missing. */
export function ratio(a, b) {
  return a?.opsPerSec && b?.opsPerSec ? a.opsPerSec / b.opsPerSec : undefined;
}
