import type { DeduplicationOptions } from 'bullmq';
import type { JobDefinition } from './define.ts';
import { jobIdFor } from './keys.ts';

/**
 * A deduplication window on BullMQ's deduplication id (not the job id, which an idempotency key already makes
 * once-ever): enqueues whose payloads give the same `key` within `ttlMs` make one job.
 * - Throttle (the default): the first enqueue of a window is the job; the others are dropped (`deduplicated`).
 * - `extend`: each enqueue within the window restarts it, so a steady stream keeps dropping.
 * - `replace` (debounce): the job waits `ttlMs` (its delay, unless the enqueue gives one) and a later enqueue
 *   within the window replaces its payload while it still waits: the last payload runs, once.
 */
export interface Deduplicate<P = unknown> {
  /** Derives the deduplication key from the (parsed) payload. */
  key: (payload: P) => string;
  /** The window, in ms (an integer >= 1). */
  ttlMs: number;
  /** Each enqueue within the window restarts it. Default false. */
  extend?: boolean;
  /** Debounce: the job waits out the window and a later enqueue replaces its payload. Default false. */
  replace?: boolean;
}

export function checkDeduplicate(name: string, d: Deduplicate<never> | undefined, keyed: boolean): void {
  if (d === undefined) return;
  if (keyed) {
    throw new TypeError(
      `${name}: deduplicate and idempotencyKey exclude each other: a keyed job is already enqueued once per key (its job id), so no window could apply`,
    );
  }
  if (typeof d.key !== 'function') throw new TypeError(`${name}: deduplicate.key must be a function of the payload`);
  if (!Number.isInteger(d.ttlMs) || d.ttlMs < 1)
    throw new TypeError(`${name}: deduplicate.ttlMs must be an integer >= 1`);
}

/** BullMQ's deduplication options for one enqueue of a keyless job that declares `deduplicate`. */
export function deduplicationFor(def: JobDefinition, payload: unknown): DeduplicationOptions {
  const d = def.deduplicate!;
  return {
    // The job's name keeps two jobs of one queue apart; unsafe keys are hashed like idempotency keys.
    id: jobIdFor(def.name, d.key(payload)),
    ttl: d.ttlMs,
    ...(d.extend ? { extend: true } : {}),
    ...(d.replace ? { replace: true } : {}),
  };
}
