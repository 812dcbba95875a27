import { createHash } from 'node:crypto';
import { UnrecoverableError } from 'bullmq';
import type { z } from 'zod';

/**
 * Stable error codes of the framework. They are public API: the README lists them, and the API and
 * dashboard answer with them.
 */
export const JobErrorCode = {
  JOB_PAYLOAD_INVALID: 'JOB_PAYLOAD_INVALID',
  JOB_PAYLOAD_TOO_NEW: 'JOB_PAYLOAD_TOO_NEW',
  JOB_PAYLOAD_MIGRATION_FAILED: 'JOB_PAYLOAD_MIGRATION_FAILED',
  JOB_CANCELLED: 'JOB_CANCELLED',
  JOB_UNKNOWN: 'JOB_UNKNOWN',
  EVENT_UNKNOWN: 'EVENT_UNKNOWN',
  QUEUE_FULL: 'QUEUE_FULL',
  QUEUE_UNAVAILABLE: 'QUEUE_UNAVAILABLE',
  JOB_TIMEOUT: 'JOB_TIMEOUT',
  JOB_FAILED: 'JOB_FAILED',
  JOB_STALLED: 'JOB_STALLED',
  DEAD_LETTER_NOT_FOUND: 'DEAD_LETTER_NOT_FOUND',
  WORKER_SHUTTING_DOWN: 'WORKER_SHUTTING_DOWN',
  REDIS_NOT_READY: 'REDIS_NOT_READY',
} as const;
export type JobErrorCode = (typeof JobErrorCode)[keyof typeof JobErrorCode];

/** Base of every error the framework throws on purpose: it carries a stable `code`. */
export class BullpenError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A payload that does not fit its job's schema. Never retried. */
export class JobPayloadInvalidError extends BullpenError {
  constructor(
    readonly jobName: string,
    readonly issues: z.core.$ZodIssue[],
  ) {
    super(JobErrorCode.JOB_PAYLOAD_INVALID, `Invalid payload for ${jobName}: ${formatIssues(issues)}`);
  }
}

/** A job or event name the registry does not know. */
export class JobUnknownError extends BullpenError {
  constructor(
    readonly jobName: string,
    kind: 'job' | 'event' = 'job',
  ) {
    super(kind === 'job' ? JobErrorCode.JOB_UNKNOWN : JobErrorCode.EVENT_UNKNOWN, `Unknown ${kind} "${jobName}"`);
  }
}

/** The queue's backlog is at its cap: try again after `retryAfterMs`. Nothing was enqueued. */
export class QueueFullError extends BullpenError {
  constructor(
    readonly queue: string,
    readonly backlog: number,
    readonly cap: number,
    readonly retryAfterMs: number,
  ) {
    super(JobErrorCode.QUEUE_FULL, `Queue "${queue}" is full (${backlog} of ${cap} jobs waiting)`);
  }
}

/** Redis did not take the job: nothing was enqueued. */
export class QueueUnavailableError extends BullpenError {
  constructor(queue: string, cause: unknown) {
    super(JobErrorCode.QUEUE_UNAVAILABLE, `Queue "${queue}" is unavailable: ${errorMessage(cause)}`, { cause });
  }
}

/** Not found in any dead-letter queue. */
export class DeadLetterNotFoundError extends BullpenError {
  constructor(readonly id: string) {
    super(JobErrorCode.DEAD_LETTER_NOT_FOUND, `No dead letter with id "${id}"`);
  }
}

/** A handler ran past its job's `timeoutMs`. Transient: retried with backoff. */
export class JobTimeoutError extends BullpenError {
  constructor(readonly timeoutMs: number) {
    super(JobErrorCode.JOB_TIMEOUT, `Job timed out after ${timeoutMs} ms`);
  }
}

/**
 * Throw (a subclass of) this from a handler when retrying cannot help: the job is dead-lettered at once.
 * It is a BullMQ `UnrecoverableError`, so BullMQ stops retrying too.
 */
export class PermanentJobError extends UnrecoverableError {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

/** Raised in the worker when a queued payload no longer fits today's schema. */
export class InvalidQueuedPayloadError extends PermanentJobError {
  constructor(
    jobName: string,
    readonly issues: z.core.$ZodIssue[],
  ) {
    super(JobErrorCode.JOB_PAYLOAD_INVALID, `Invalid payload for ${jobName}: ${formatIssues(issues)}`);
  }
}

/** A stored payload whose `meta.v` is not a version at all (a foreign producer's, say). Never retried. */
export class PayloadVersionInvalidError extends PermanentJobError {
  constructor(jobName: string, version: unknown) {
    super(JobErrorCode.JOB_PAYLOAD_INVALID, `Invalid payload version for ${jobName}: ${String(version)}`);
  }
}

/**
 * A stored payload of a version this code does not know yet (a newer producer deployed before the workers).
 * Never retried: the dead letter replays once workers of that version run.
 */
export class PayloadTooNewError extends PermanentJobError {
  constructor(
    jobName: string,
    readonly version: number,
    readonly knownVersion: number,
  ) {
    super(
      JobErrorCode.JOB_PAYLOAD_TOO_NEW,
      `Payload of ${jobName} is version ${version}; this code knows up to version ${knownVersion}`,
    );
  }
}

/** A payload migration step threw. Never retried (the same step would throw again). */
export class PayloadMigrationError extends PermanentJobError {
  constructor(
    jobName: string,
    readonly fromVersion: number,
    cause: unknown,
  ) {
    super(
      JobErrorCode.JOB_PAYLOAD_MIGRATION_FAILED,
      `Migrating the payload of ${jobName} from version ${fromVersion} to ${fromVersion + 1} failed: ${errorMessage(cause)}`,
      { cause },
    );
  }
}

/**
 * The job was cancelled (`admin.cancel`): its handler's signal aborts with this, and the job fails at once,
 * without a retry and without a dead letter.
 */
export class JobCancelledError extends PermanentJobError {
  constructor(readonly actor?: string) {
    super(JobErrorCode.JOB_CANCELLED, actor ? `Job cancelled by ${actor}` : 'Job cancelled');
  }
}

/** Raised in the worker for a job whose name no handler serves. */
export class UnknownQueuedJobError extends PermanentJobError {
  constructor(jobName: string) {
    super(JobErrorCode.JOB_UNKNOWN, `Unknown job "${jobName}"`);
  }
}

export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 10)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Turns any thrown value into an Error, keeping the original as `cause`. */
export function coerceError(value: unknown): Error {
  if (value instanceof Error) return value;
  const message = typeof value === 'string' ? value : safeJson(value);
  return new Error(message ?? 'Non-error value thrown', { cause: value });
}

function safeJson(v: unknown): string | undefined {
  try {
    return JSON.stringify(v);
  } catch {
    return undefined;
  }
}

/** The code of an error, when it has one. */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Groups errors that differ only in ids, numbers, addresses or quoted values:
 * `TimeoutError: connect to 10.0.0.7:443 after 5012 ms` and `... 10.0.0.9:443 after 5007 ms` share one.
 */
export function normaliseMessage(message: string): string {
  return message
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>')
    .replace(/https?:\/\/[^\s"')]+/g, '<url>')
    .replace(/\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b/g, '<ip>')
    .replace(/"[^"]*"|'[^']*'/g, '<str>')
    .replace(/\b[0-9a-f]{12,}\b/gi, '<hex>')
    .replace(/\d+(\.\d+)?/g, '<n>')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);
}

/** Error class + normalised message, and a short hash of both for grouping dead letters. */
export function fingerprint(name: string, message: string): { fingerprint: string; fingerprintText: string } {
  const fingerprintText = `${name}: ${normaliseMessage(message)}`;
  const hash = createHash('sha1').update(fingerprintText).digest('hex').slice(0, 12);
  return { fingerprint: hash, fingerprintText };
}
