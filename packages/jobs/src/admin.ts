import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { AuditLog } from './audit.ts';
import type { RedisClient } from './connection.ts';
import {
  type DeadLetter,
  type DeadLetterEntry,
  groupLetters,
  type LetterFilter,
  type LetterGroup,
  listLetters,
  SCAN_MAX,
} from './dead-letter.ts';
import type { JobDefinition, Registry } from './define.ts';
import { type Envelope, ledgerIdFor } from './envelope.ts';
import { DeadLetterNotFoundError, formatIssues, JobPayloadInvalidError, JobUnknownError } from './errors.ts';
import { deadLetterQueueName, jobIdFor, letterIdFor } from './keys.ts';
import { Ledger, type StepRecord } from './ledger.ts';
import type { JobMetrics } from './metrics.ts';
import { QueueSet } from './queues.ts';

/** Which letters: by id (optionally in one queue), or by filter. */
export type LetterTarget = { ids: string[]; queue?: string } | LetterFilter;

export interface ActionOptions {
  /** Who asked: recorded in the audit log. */
  actor: string;
}

export interface ReplayOutcome {
  id: string;
  queue: string;
  name: string;
  status: 'replayed' | 'would-replay' | 'refused';
  /** Why a letter was refused (its payload no longer fits today's schema, an unknown job, ...). */
  reason?: string;
  code?: string;
  /** The new job's id. */
  newJobId?: string;
}

export interface ReplayReport {
  dryRun: boolean;
  replayed: number;
  refused: number;
  outcomes: ReplayOutcome[];
}

export interface FoundJob {
  queue: string;
  id: string;
  name: string;
  state: string;
  deadLetter: boolean;
  idempotencyKey?: string;
  requestId?: string;
  timestamp: number;
  failedReason?: string;
}

/** One failed attempt in a letter's timeline. */
export interface TimelineAttempt {
  /** The job that made it: the letter's own job, or an earlier one with the same ledger (a replay's source). */
  jobId: string;
  /** 1 for that job's first try. */
  attempt: number;
  /** When it failed (ISO); absent for attempts made before the ledger recorded them. */
  at?: string;
  /** When it started (ISO), when known. */
  startedAt?: string;
  /** The step running when the handler threw; absent when it threw outside any step (or was not recorded). */
  step?: string;
  code?: string;
  name: string;
  message: string;
  /** Kept by the letter for its own job's attempts. */
  stack?: string;
}

/** A dead letter's story from its ledger: which steps had finished, where each attempt failed, what a replay does. */
export interface LetterTimeline {
  id: string;
  /** The source queue. */
  queue: string;
  /** The ledger record the letter's job used. */
  ledgerId: string;
  /** Steps that had finished, in the order they finished: their results are stored. */
  steps: StepRecord[];
  /** Every failed attempt known, oldest first (earlier jobs with the same ledger, then the letter's own). */
  attempts: TimelineAttempt[];
  /** What a replay would do if started now. */
  replay: {
    /** The ledger the replay would use. */
    ledgerId: string;
    /** The payload was edited since the failure: the replay starts a fresh ledger and runs every step. */
    freshLedger: boolean;
    /** Steps the replay skips (it reuses their stored results). */
    skips: string[];
    /** The step the last attempt failed in: the replay runs it again (and whatever follows it). */
    resumesAt?: string;
    /** The ledger marks the work done: the replay completes at once without running the handler. */
    completesAtOnce: boolean;
  };
}

export interface JobAdminOptions {
  connection: RedisClient;
  prefix: string;
  metrics?: JobMetrics;
  logger?: Logger;
}

export interface JobAdmin {
  readonly queues: QueueSet;
  readonly audit: AuditLog;
  listDeadLetters(filter?: LetterFilter): Promise<DeadLetterEntry[]>;
  groupDeadLetters(filter?: LetterFilter): Promise<LetterGroup[]>;
  getDeadLetter(id: string, queue?: string): Promise<DeadLetterEntry>;
  /** Re-enqueues letters whose payload fits today's schema; refuses (and keeps) the others. */
  replay(target: LetterTarget, opts: ActionOptions & { dryRun?: boolean }): Promise<ReplayReport>;
  discardDeadLetters(target: LetterTarget, opts: ActionOptions): Promise<{ discarded: string[] }>;
  /** Replaces a letter's payload; refused when it does not fit the job's schema. */
  editDeadLetter(id: string, payload: unknown, opts: ActionOptions & { queue?: string }): Promise<DeadLetterEntry>;
  /** Finds jobs and letters by job id or idempotency key, across every queue. */
  findJobs(term: string): Promise<FoundJob[]>;
  /** A letter's step timeline from its ledger, and what a replay would skip and redo. */
  letterTimeline(id: string, queue?: string): Promise<LetterTimeline>;
  close(): Promise<void>;
}

const REPLAY_SUFFIX = /-r(\d+)$/;

/** The ledger of a letter's job. */
const letterLedger = (letter: DeadLetter) => ledgerIdFor(letter.name, letter.sourceQueue, letter.jobId, letter.meta);

/**
 * The ledger a replay uses: the source job's, so finished steps are not redone, unless an operator edited the
 * payload: then the old steps may not apply, and it starts a ledger of its own.
 */
const replayLedger = (letter: DeadLetter) =>
  letter.edits?.length ? `${letterLedger(letter)}~e${letter.edits.length}` : letterLedger(letter);

/** Operator actions on dead letters and jobs, each recorded in the audit log. */
export function createJobAdmin<R extends Registry>(registry: R, options: JobAdminOptions): JobAdmin {
  const queues = new QueueSet(options.connection, options.prefix);
  const audit = new AuditLog(options.connection, options.prefix);
  const jobs = registry.jobs as Record<string, JobDefinition>;
  const deadQueues = (queue?: string) => (queue ? [queue] : registry.queues).map((q) => queues.dead(q));
  // Reads only: the TTL is never used.
  const ledger = new Ledger(options.connection, options.prefix, 1);

  async function resolve(target: LetterTarget): Promise<{ entries: DeadLetterEntry[]; missing: string[] }> {
    if ('ids' in target) {
      const entries: DeadLetterEntry[] = [];
      const missing: string[] = [];
      for (const id of target.ids) {
        const found = await findLetter(id, target.queue);
        if (found) entries.push(found);
        else missing.push(id);
      }
      return { entries, missing };
    }
    return { entries: await listLetters(deadQueues(target.queue), { limit: SCAN_MAX, ...target }), missing: [] };
  }

  /** The source queue of an action, when all its letters share one. */
  function auditQueue(entries: DeadLetterEntry[]): { queue?: string } {
    const names = new Set(entries.map((e) => e.queue));
    return names.size === 1 ? { queue: [...names][0]! } : {};
  }

  async function findLetter(id: string, queue?: string): Promise<DeadLetterEntry | undefined> {
    for (const q of deadQueues(queue)) {
      const job = await q.getJob(letterIdFor(id));
      if (job)
        return {
          id: job.id!,
          queue: (job.data as DeadLetter).sourceQueue,
          deadQueue: q.name,
          letter: job.data as DeadLetter,
        };
    }
    return undefined;
  }

  async function removeLetter(entry: DeadLetterEntry) {
    await queues.get(entry.deadQueue).remove(entry.id);
  }

  function check(letter: DeadLetter): { def: JobDefinition; payload: unknown } | { code: string; reason: string } {
    const def = jobs[letter.name];
    if (!def) return { code: 'JOB_UNKNOWN', reason: `no job "${letter.name}" in today's registry` };
    const parsed = def.payload.safeParse(letter.payload);
    if (!parsed.success) return { code: 'JOB_PAYLOAD_INVALID', reason: formatIssues(parsed.error.issues) };
    return { def, payload: parsed.data };
  }

  async function replayOne(entry: DeadLetterEntry, dryRun: boolean): Promise<ReplayOutcome> {
    const { letter } = entry;
    const base = { id: entry.id, queue: letter.sourceQueue, name: letter.name };
    const checked = check(letter);
    if ('code' in checked) return { ...base, status: 'refused', ...checked };
    const { def } = checked;
    const target = queues.get(def.queue);
    // `<source>-r<n>` with the first n not taken. Only an id this code made (a replay's) loses its suffix:
    // an idempotency key that happens to end in -r5 is left alone.
    const baseId = letter.meta.replayOf ? letter.jobId.replace(REPLAY_SUFFIX, '') : letter.jobId;
    let n = 1;
    while (await target.getJob(`${baseId}-r${n}`)) n++;
    const newJobId = `${baseId}-r${n}`;
    if (dryRun) return { ...base, status: 'would-replay', newJobId };
    const data: Envelope = {
      payload: checked.payload,
      meta: { ...letter.meta, ledger: replayLedger(letter), replayOf: letter.jobId },
    };
    await target.add(def.name, data, {
      jobId: newJobId,
      attempts: def.attempts,
      backoff: def.backoff,
      stackTraceLimit: def.attempts + 1,
      removeOnComplete: { age: def.keepCompletedSeconds },
      removeOnFail: { age: def.keepFailedSeconds },
    });
    // Only once the new job is safely in Redis does the letter go. The failed source job stays (until its
    // retention ends): while it is there, a new enqueue of the same key is answered with it, not run again.
    await removeLetter(entry);
    options.metrics?.replayed.inc({ queue: def.queue, job: def.name });
    return { ...base, status: 'replayed', newJobId };
  }

  return {
    queues,
    audit,

    listDeadLetters: (filter = {}) => listLetters(deadQueues(filter.queue), filter),

    async groupDeadLetters(filter = {}) {
      return groupLetters(await listLetters(deadQueues(filter.queue), { limit: 20_000, ...filter }));
    },

    async getDeadLetter(id, queue) {
      const found = await findLetter(id, queue);
      if (!found) throw new DeadLetterNotFoundError(id);
      return found;
    },

    async replay(target, opts) {
      const dryRun = opts.dryRun ?? false;
      const { entries, missing } = await resolve(target);
      const outcomes: ReplayOutcome[] = [];
      for (const e of entries) outcomes.push(await replayOne(e, dryRun));
      for (const id of missing) {
        outcomes.push({
          id,
          queue: '',
          name: '',
          status: 'refused',
          code: 'DEAD_LETTER_NOT_FOUND',
          reason: 'no such letter',
        });
      }
      const replayed = outcomes.filter((o) => o.status !== 'refused').length;
      const refused = outcomes.length - replayed;
      if (!dryRun) {
        await audit.append({
          actor: opts.actor,
          action: 'replay',
          ...auditQueue(entries),
          ids: outcomes.map((o) => o.id),
          outcome: refused === 0 ? 'ok' : replayed === 0 ? 'refused' : 'partial',
          detail: {
            replayed: outcomes.filter((o) => o.status === 'replayed').map((o) => ({ id: o.id, newJobId: o.newJobId })),
            refused: outcomes
              .filter((o) => o.status === 'refused')
              .map((o) => ({ id: o.id, code: o.code, reason: o.reason })),
          },
        });
      }
      options.logger?.info({ actor: opts.actor, dryRun, replayed, refused }, 'dead_letter.replayed');
      return { dryRun, replayed, refused, outcomes };
    },

    async discardDeadLetters(target, opts) {
      const { entries } = await resolve(target);
      for (const e of entries) await removeLetter(e);
      const discarded = entries.map((e) => e.id);
      await audit.append({
        actor: opts.actor,
        action: 'discard',
        ...auditQueue(entries),
        ids: discarded,
        outcome: 'ok',
      });
      return { discarded };
    },

    async editDeadLetter(id, payload, opts) {
      const entry = await findLetter(id, opts.queue);
      if (!entry) throw new DeadLetterNotFoundError(id);
      const def = jobs[entry.letter.name];
      if (!def) throw new JobUnknownError(entry.letter.name);
      const parsed = def.payload.safeParse(payload);
      if (!parsed.success) {
        await audit.append({
          actor: opts.actor,
          action: 'edit',
          ids: [id],
          queue: entry.queue,
          outcome: 'refused',
          detail: { reason: formatIssues(parsed.error.issues) },
        });
        throw new JobPayloadInvalidError(entry.letter.name, parsed.error.issues);
      }
      const checked = { payload: parsed.data };
      const at = new Date().toISOString();
      const letter: DeadLetter = {
        ...entry.letter,
        payload: checked.payload,
        edits: [...(entry.letter.edits ?? []), { actor: opts.actor, at }],
      };
      const job = await queues.get(entry.deadQueue).getJob(entry.id);
      if (!job) throw new DeadLetterNotFoundError(id);
      await job.updateData(letter);
      await audit.append({ actor: opts.actor, action: 'edit', ids: [id], queue: entry.queue, outcome: 'ok' });
      return { ...entry, letter };
    },

    async findJobs(term) {
      const found: FoundJob[] = [];
      const seen = new Set<string>();
      for (const queue of registry.queues) {
        const candidates = new Set([term, ...registry.jobsOf(queue).map((j) => jobIdFor(j.name, term))]);
        for (const qname of [queue, deadLetterQueueName(queue)]) {
          const q = queues.get(qname);
          for (const id of candidates) {
            // The job itself, then its replays (-r1, -r2, ...) until one is missing.
            for (let n = 0; n < 1000; n++) {
              const candidate = n === 0 ? id : `${id}-r${n}`;
              const job: Job | undefined = await q.getJob(qname === queue ? candidate : letterIdFor(candidate));
              if (!job) {
                if (n > 0) break;
                continue;
              }
              if (seen.has(`${qname}/${job.id}`)) continue;
              seen.add(`${qname}/${job.id}`);
              const dead = qname !== queue;
              const meta = dead ? (job.data as DeadLetter).meta : ((job.data as Envelope).meta ?? {});
              found.push({
                queue: qname,
                id: job.id!,
                name: job.name,
                state: await job.getState(),
                deadLetter: dead,
                ...(meta?.key ? { idempotencyKey: meta.key } : {}),
                ...(meta?.requestId ? { requestId: meta.requestId } : {}),
                timestamp: job.timestamp,
                ...(job.failedReason ? { failedReason: job.failedReason } : {}),
              });
            }
          }
        }
      }
      return found;
    },

    async letterTimeline(id, queue) {
      const entry = await findLetter(id, queue);
      if (!entry) throw new DeadLetterNotFoundError(id);
      const { letter } = entry;
      const ledgerId = letterLedger(letter);
      const recorded = await ledger.timeline(ledgerId);
      // The letter keeps each attempt's error and stack; the ledger when it failed and in which step.
      const own = new Map<number, TimelineAttempt>();
      for (const a of letter.attempts) {
        own.set(a.attempt, {
          jobId: letter.jobId,
          attempt: a.attempt,
          ...(a.at ? { at: a.at } : {}),
          ...(a.code ? { code: a.code } : {}),
          name: a.name,
          message: a.message,
          ...(a.stack ? { stack: a.stack } : {}),
        });
      }
      const earlier: TimelineAttempt[] = [];
      for (const f of recorded.failures) {
        if (f.jobId !== letter.jobId) {
          earlier.push({ ...f });
          continue;
        }
        const a = own.get(f.attempt);
        own.set(f.attempt, {
          ...f,
          ...(a ?? {}),
          at: f.at,
          ...(f.startedAt ? { startedAt: f.startedAt } : {}),
          ...(f.step !== undefined ? { step: f.step } : {}),
        });
      }
      const attempts = [...earlier, ...[...own.values()].sort((a, b) => a.attempt - b.attempt)];
      const freshLedger = (letter.edits?.length ?? 0) > 0;
      const last = attempts.at(-1);
      return {
        id: entry.id,
        queue: entry.queue,
        ledgerId,
        steps: recorded.steps,
        attempts,
        replay: {
          ledgerId: replayLedger(letter),
          freshLedger,
          skips: freshLedger ? [] : recorded.steps.map((s) => s.name),
          ...(!freshLedger && last?.step !== undefined ? { resumesAt: last.step } : {}),
          completesAtOnce: !freshLedger && recorded.done,
        },
      };
    },

    close: () => queues.close(),
  };
}
