import { DelayedError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { RedisClient } from './connection.ts';
import { BullpenError, errorCode } from './errors.ts';

/** The code of a `JobPostponedError` (it never reaches a dead letter: a spent window fails with its cause). */
export const JOB_POSTPONED = 'JOB_POSTPONED';

export interface PostponeOptions {
  /** Delay of the job's first postponement, in ms. */
  delayMs: number;
  /** Each further postponement of the same job doubles the delay, up to this. Default: `delayMs` (no growth). */
  maxDelayMs?: number;
  /**
   * How long, from its first postponement, a job may keep being postponed, in ms. Past it the job is no longer
   * postponed: the attempt fails with `cause` as any failure does (retried with the job's backoff, then
   * dead-lettered). Default: no limit.
   */
  windowMs?: number;
  /** What made the handler postpone; the error the attempt fails with once the window is spent. */
  cause?: unknown;
}

/**
 * Throw from a handler to put its job back for later without spending an attempt: the job moves to the
 * delayed set and runs again after the delay (BullMQ's `moveToDelayed` then `DelayedError`). For conditions
 * that are not the job's fault, such as a full disk, a busy key or a partner's rate limit: retrying at once
 * would only spend the job's attempts and dead-letter work that would have succeeded later.
 */
export class JobPostponedError extends BullpenError {
  constructor(
    message: string,
    readonly options: PostponeOptions,
  ) {
    super(JOB_POSTPONED, message, options.cause !== undefined ? { cause: options.cause } : undefined);
  }
}

/** Job hash field holding `<postponements>:<first postponement, ms since epoch>`; it goes with the job. */
const FIELD = 'bullpenPostponed';

/**
 * The worker's hook for a handler that threw `JobPostponedError`: moves the job to delayed and returns the
 * `DelayedError` for the processor to throw. Returns the error to fail the attempt with instead (the cause)
 * when the postponement window is spent, the job holds no lock token, or Redis fails meanwhile.
 */
export async function postponeJob(
  job: Job,
  token: string | undefined,
  err: JobPostponedError,
  deps: { client: RedisClient; prefix: string; log: Logger },
): Promise<unknown> {
  const { delayMs, maxDelayMs = delayMs, windowMs } = err.options;
  const code = errorCode(err.cause);
  try {
    const key = `${deps.prefix}:${job.queueName}:${job.id}`;
    const now = Date.now();
    const stored = await deps.client.hget(key, FIELD);
    const [count, since] = stored ? (stored.split(':').map(Number) as [number, number]) : [0, now];
    if (!token || (windowMs !== undefined && now - since >= windowMs)) {
      deps.log.warn({ postponements: count, postponedForMs: now - since, code }, 'job.postpone_window_spent');
      return err.cause ?? err;
    }
    const delay = Math.min(maxDelayMs, delayMs * 2 ** count);
    await deps.client.hset(key, FIELD, `${count + 1}:${since}`);
    await job.moveToDelayed(now + delay, token);
    deps.log.warn({ delayMs: delay, postponements: count + 1, reason: err.message, code }, 'job.postponed');
    return new DelayedError();
  } catch (hookErr) {
    deps.log.error({ err: hookErr }, 'job.postpone_failed');
    return err.cause ?? err;
  }
}

/**
 * The bare move under `postponeJob`, for a caller that knows its own delay (a job whose concurrency key is at its
 * cap, see key-concurrency.ts): back to the delayed set for `delayMs` without spending an attempt, and the
 * `DelayedError` to throw so the worker lets go of it. No bookkeeping round trip: one `moveToDelayed`.
 */
export async function putBack(job: Job, token: string, delayMs: number): Promise<DelayedError> {
  await job.moveToDelayed(Date.now() + Math.max(0, Math.round(delayMs)), token);
  return new DelayedError();
}
