import type { DeduplicationOptions, JobsOptions } from 'bullmq';
import type { JobDefinition } from './define.ts';

/** What an enqueue may add to a definition's own options. */
export interface JobOptionsExtra {
  jobId?: string;
  delay?: number;
  priority?: number;
  deduplication?: DeduplicationOptions;
}

/**
 * A definition's BullMQ job options: attempts, backoff, every attempt's stack kept (for the dead letter),
 * retention. The producer and replay both add jobs with them, so a replayed job runs under today's policy.
 */
export function jobOptions(def: JobDefinition, extra: JobOptionsExtra = {}): JobsOptions {
  const opts: JobsOptions = {
    ...(extra.jobId ? { jobId: extra.jobId } : {}),
    attempts: def.attempts,
    backoff: def.backoff,
    stackTraceLimit: def.attempts + 1,
    removeOnComplete: { age: def.keepCompletedSeconds },
    removeOnFail: { age: def.keepFailedSeconds },
    ...(extra.delay ? { delay: extra.delay } : {}),
    ...(extra.priority ? { priority: extra.priority } : {}),
  };
  // Assigned, not spread: a job without a window allocates nothing for it.
  if (extra.deduplication) opts.deduplication = extra.deduplication;
  return opts;
}
