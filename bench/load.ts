/**
 * A bounded closed-loop load generator: keeps `concurrency` calls in flight for `seconds`, then reports throughput
 * and latency percentiles. Used by every benchmark so the figures compare like with like.
 */

/** Result of one load run. */
export interface LoadResult {
  calls: number;
  errors: number;
  seconds: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
}

/** Runs `fn` with `concurrency` calls in flight for `seconds` (after `warmupSeconds` of unmeasured calls). */
export async function runLoad(fn: (i: number) => Promise<unknown>, opts: { concurrency: number; seconds: number; warmupSeconds?: number }): Promise<LoadResult> {
  const warmEnd = performance.now() + (opts.warmupSeconds ?? 0.5) * 1000;
  const end = warmEnd + opts.seconds * 1000;
  const latencies: number[] = [];
  let errors = 0;
  let i = 0;
  let firstError: unknown;
  const worker = async (): Promise<void> => {
    for (;;) {
      const start = performance.now();
      if (start >= end) return;
      try {
        await fn(i++);
      } catch (err) {
        errors++;
        firstError ??= err;
      }
      const stop = performance.now();
      if (start >= warmEnd) latencies.push(stop - start);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  if (errors > 0 && latencies.length === 0) throw firstError;
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return { calls: latencies.length, errors, seconds: opts.seconds, perSecond: latencies.length / opts.seconds, p50ms: pct(50), p99ms: pct(99) };
}
