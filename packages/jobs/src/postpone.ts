import { DelayedError, type Job } from 'bullmq';

/**
 * Puts an active job back in the delayed set for `delayMs` WITHOUT spending an attempt, then throws BullMQ's
 * `DelayedError` so the worker lets go of it (neither completed nor failed; no retry budget used, no dead letter).
 * Call it from the processor with the job's lock token, and let the error propagate.
 */
export async function postponeJob(job: Job, token: string, delayMs: number): Promise<never> {
  // BullMQ's Job.moveToDelayed skips the attempt count (it bumps only `attemptsStarted`, at the next start).
  await job.moveToDelayed(Date.now() + Math.max(0, Math.round(delayMs)), token);
  throw new DelayedError();
}

/** Whether a thrown value is BullMQ's signal that the job was put back (postponed or handed back), not a failure. */
export function isPutBack(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name;
  return err instanceof DelayedError || name === 'DelayedError' || name === 'WaitingError';
}
