import { createHash } from 'node:crypto';

/** The name of a queue's dead-letter queue. */
export const deadLetterQueueName = (queue: string) => `${queue}.dead`;
export const isDeadLetterQueue = (queue: string) => queue.endsWith('.dead');

const SAFE_KEY = /^[A-Za-z0-9._@~=+-]{1,160}$/;

/**
 * The job id for work with an idempotency key. BullMQ refuses ids with ':' or that are integers, so
 * keys outside a safe alphabet are hashed (the hash is stable: the same key, the same id).
 */
export function jobIdFor(jobName: string, idempotencyKey: string): string {
  const key = SAFE_KEY.test(idempotencyKey) ? idempotencyKey : `h-${sha(idempotencyKey)}`;
  return `${jobName}#${key}`;
}

/**
 * A dead letter's id in `<queue>.dead`: the source job's id, so a second write of the same letter is a no-op.
 * BullMQ's own (numeric) ids are refused as custom ids, so those become `job-<id>`.
 */
export function letterIdFor(sourceJobId: string): string {
  return /^\d+$/.test(sourceJobId) ? `job-${sourceJobId}` : sourceJobId;
}

export function sha(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 32);
}

/** Keys of Bullpen's own records, beside BullMQ's; all under the prefix (one slot when it has a hash tag). */
export function frameworkKeys(prefix: string) {
  return {
    ledger: (ledgerId: string) => `${prefix}:ledger:${ledgerId}`,
    audit: `${prefix}:audit`,
    event: (eventId: string) => `${prefix}:event:${eventId}`,
    pendingEvents: `${prefix}:events:pending`,
    /** The pub/sub channel every worker listens on for cancels. */
    cancelChannel: `${prefix}:cancels`,
    /** A short-lived note that a job was cancelled, for a worker that picks it up after the message went by. */
    cancelMarker: (queue: string, jobId: string) => `${prefix}:cancel:${queue}:${jobId}`,
  };
}
