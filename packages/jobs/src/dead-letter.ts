import type { Job, Queue } from 'bullmq';
import type { Envelope } from './envelope.ts';
import { errorCode, fingerprint, JobErrorCode } from './errors.ts';
import { letterIdFor } from './keys.ts';
import type { QueueSet } from './queues.ts';

export interface AttemptRecord {
  attempt: number;
  name: string;
  message: string;
  stack?: string;
  code?: string;
  /** When the attempt failed (ISO): set on the final attempt; earlier ones are in the ledger (`letterTimeline`). */
  at?: string;
}

/**
 * What a dead letter holds: everything needed to understand the failure and to replay it. `P` is the job's
 * payload type when the letter is known to be of one job (a per-job `onDeadLetter` gets `DeadLetter<Payload>`);
 * a letter read back from Redis may be older than today's schema, hence `unknown` by default.
 */
export interface DeadLetter<P = unknown> {
  sourceQueue: string;
  name: string;
  /** The source job's id; the letter's id in `<queue>.dead` is `letterIdFor(jobId)`. */
  jobId: string;
  payload: P;
  meta: Envelope['meta'];
  idempotencyKey?: string;
  /** The final error's code (`JOB_PAYLOAD_INVALID`, `JOB_TIMEOUT`, a handler's own code, or `JOB_FAILED`). */
  code: string;
  error: { name: string; message: string; stack?: string };
  /** Every attempt's error, oldest first. */
  attempts: AttemptRecord[];
  fingerprint: string;
  fingerprintText: string;
  enqueuedAt: string;
  firstAttemptAt?: string;
  failedAt: string;
  /** Operator edits of the payload since the failure. */
  edits?: { actor: string; at: string }[];
}

/** A letter as listed: the letter and where it is. */
export interface DeadLetterEntry {
  id: string;
  /** The source queue (`images`): what filters and targets take. */
  queue: string;
  /** The dead-letter queue holding it (`images.dead`). */
  deadQueue: string;
  letter: DeadLetter;
}

/** Parses `Name: message\n  at ...` (a stored BullMQ stack trace) back into its parts. */
function parseStack(stack: string): { name: string; message: string } {
  const first = stack.split('\n', 1)[0] ?? '';
  const m = /^([A-Za-z_$][\w$]*): ?(.*)$/.exec(first);
  return m ? { name: m[1]!, message: m[2]! } : { name: 'Error', message: first };
}

/** Builds the letter for a job's final failure. */
export function buildLetter(job: Job, err: Error): DeadLetter {
  const data = (job.data ?? {}) as Partial<Envelope>;
  const isEnvelope = data !== null && typeof data === 'object' && 'payload' in data;
  const meta = (isEnvelope && data.meta) || {};
  // BullMQ keeps the stack of each failed attempt so far; this attempt's error comes last.
  const previous = (job.stacktrace ?? [])
    .filter(Boolean)
    .map((stack, i) => ({ attempt: i + 1, ...parseStack(stack), stack }));
  const code = errorCode(err) ?? JobErrorCode.JOB_FAILED;
  const failedAt = new Date().toISOString();
  const current: AttemptRecord = {
    attempt: previous.length + 1,
    name: err.name,
    message: err.message,
    code,
    ...(err.stack ? { stack: err.stack } : {}),
    at: failedAt,
  };
  const fp = fingerprint(err.name, err.message);
  return {
    sourceQueue: job.queueName,
    name: job.name,
    jobId: job.id!,
    payload: isEnvelope ? data.payload : job.data,
    meta,
    ...(meta.key ? { idempotencyKey: meta.key } : {}),
    code,
    error: { name: err.name, message: err.message, ...(err.stack ? { stack: err.stack } : {}) },
    attempts: [...previous, current],
    ...fp,
    enqueuedAt: new Date(job.timestamp).toISOString(),
    ...(job.processedOn ? { firstAttemptAt: new Date(job.processedOn).toISOString() } : {}),
    failedAt,
  };
}

/**
 * Writes the letter to `<queue>.dead` under the source job's id. A second write of the same letter
 * (a redelivery after a crash between this write and the failure) is a no-op: BullMQ keeps the first.
 */
export async function writeLetter(queues: QueueSet, letter: DeadLetter): Promise<void> {
  await queues.dead(letter.sourceQueue).add(letter.name, letter, {
    jobId: letterIdFor(letter.jobId),
    removeOnComplete: true,
    removeOnFail: false,
  });
}

/** The filter for listing, grouping, replaying and discarding letters. */
export interface LetterFilter {
  queue?: string;
  name?: string;
  fingerprint?: string;
  /** Case-insensitive text in the final error message. */
  messageContains?: string;
  /** At most this many (listing: default 1000; replay and discard: every match). */
  limit?: number;
}

export function matches(letter: DeadLetter, f: LetterFilter): boolean {
  if (f.name && letter.name !== f.name) return false;
  if (f.fingerprint && letter.fingerprint !== f.fingerprint) return false;
  if (f.messageContains && !letter.error.message.toLowerCase().includes(f.messageContains.toLowerCase())) return false;
  return true;
}

const sourceQueueOf = (deadQueue: string) => deadQueue.replace(/\.dead$/, '');

const PAGE = 500;
/** Letters are read in pages, never more than this many per queue in one call. */
export const SCAN_MAX = 20_000;

/** Lists letters, newest first, across the given dead-letter queues. */
export async function listLetters(deadQueues: Queue[], f: LetterFilter = {}): Promise<DeadLetterEntry[]> {
  const limit = f.limit ?? 1000;
  const out: DeadLetterEntry[] = [];
  for (const q of deadQueues) {
    for (let start = 0; start < SCAN_MAX && out.length < limit; start += PAGE) {
      const jobs = await q.getJobs(['waiting', 'delayed', 'prioritized'], start, start + PAGE - 1, false);
      for (const j of jobs) {
        if (!j) continue;
        const letter = j.data as DeadLetter;
        if (matches(letter, f)) out.push({ id: j.id!, queue: sourceQueueOf(q.name), deadQueue: q.name, letter });
        if (out.length >= limit) break;
      }
      if (jobs.length < PAGE) break;
    }
  }
  return out.sort((a, b) => b.letter.failedAt.localeCompare(a.letter.failedAt));
}

export interface LetterGroup {
  fingerprint: string;
  fingerprintText: string;
  queue: string;
  name: string;
  count: number;
  firstSeen: string;
  lastSeen: string;
  sampleError: { name: string; message: string; code: string };
  sampleId: string;
}

/** Groups letters by error fingerprint (and job), with counts and first/last seen; largest first. */
export function groupLetters(entries: DeadLetterEntry[]): LetterGroup[] {
  const groups = new Map<string, LetterGroup>();
  for (const { id, queue, letter } of entries) {
    const k = `${queue}\u0000${letter.name}\u0000${letter.fingerprint}`;
    const g = groups.get(k);
    if (!g) {
      groups.set(k, {
        fingerprint: letter.fingerprint,
        fingerprintText: letter.fingerprintText,
        queue,
        name: letter.name,
        count: 1,
        firstSeen: letter.failedAt,
        lastSeen: letter.failedAt,
        sampleError: { name: letter.error.name, message: letter.error.message, code: letter.code },
        sampleId: id,
      });
    } else {
      g.count++;
      if (letter.failedAt < g.firstSeen) g.firstSeen = letter.failedAt;
      if (letter.failedAt > g.lastSeen) {
        g.lastSeen = letter.failedAt;
        g.sampleError = { name: letter.error.name, message: letter.error.message, code: letter.code };
        g.sampleId = id;
      }
    }
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || b.lastSeen.localeCompare(a.lastSeen));
}
