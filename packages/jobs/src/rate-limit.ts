import type { JobDefinition } from './define.ts';

/**
 * At most `max` jobs of the queue start per `durationMs`, across every worker (BullMQ's limiter: a counter per
 * queue in Redis, checked when a worker takes a job). It is a queue's limit: every job of a queue that declares
 * one must declare the same.
 */
export interface RateLimit {
  /** Jobs started per window (an integer >= 1). */
  max: number;
  /** The window, in ms (an integer >= 1). */
  durationMs: number;
}

export function checkRateLimit(name: string, limit: RateLimit | undefined): void {
  if (limit === undefined) return;
  const { max, durationMs } = limit;
  if (!Number.isInteger(max) || max < 1 || !Number.isInteger(durationMs) || durationMs < 1) {
    throw new TypeError(`${name}: rateLimit needs integers max >= 1 and durationMs >= 1`);
  }
}

/**
 * Each queue's rate limit. BullMQ's limiter applies to a whole queue, so the jobs sharing a queue must agree:
 * all declare the same `rateLimit`, or none does (a job without one would be limited anyway, silently).
 */
export function rateLimitsByQueue(jobs: readonly JobDefinition[]): Map<string, RateLimit | undefined> {
  const byQueue = new Map<string, { limit: RateLimit | undefined; from: string }>();
  for (const j of jobs) {
    const seen = byQueue.get(j.queue);
    if (!seen) {
      byQueue.set(j.queue, { limit: j.rateLimit, from: j.name });
      continue;
    }
    const a = seen.limit;
    const b = j.rateLimit;
    if (a?.max !== b?.max || a?.durationMs !== b?.durationMs) {
      const show = (l: RateLimit | undefined) => (l ? `${l.max} per ${l.durationMs} ms` : 'none');
      throw new TypeError(
        `jobs "${seen.from}" and "${j.name}" share queue "${j.queue}" but not its rateLimit (${show(a)} vs ${show(b)}): ` +
          'a rate limit applies to the whole queue, so declare the same one on every job of it (or move one job to a queue of its own)',
      );
    }
  }
  return new Map([...byQueue].map(([q, v]) => [q, v.limit]));
}
