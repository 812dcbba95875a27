import type { Telemetry } from 'bullmq';
import type { Logger } from 'pino';
import { AuditLog } from './audit.ts';
import { type CancelOutcome, type CancelReport, cancelJob } from './cancel.ts';
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
import {
  DeadLetterNotFoundError,
  formatIssues,
  JobErrorCode,
  JobPayloadInvalidError,
  JobUnknownError,
} from './errors.ts';
import { type FoundJob, findJobs } from './find-jobs.ts';
import { letterIdFor } from './keys.ts';
import { Ledger } from './ledger.ts';
import { type LetterTimeline, letterTimeline } from './letter-timeline.ts';
import type { JobMetrics } from './metrics.ts';
import { versionMeta } from './payload-versions.ts';
import { QueueSet } from './queues.ts';
import { Replayer, type ReplayOutcome, type ReplayReport, replayAudit } from './replay.ts';
import { listSchedules, type ScheduleInfo } from './schedule-sync.ts';

export type { CancelledJob, CancelOutcome, CancelReport, CancelStatus } from './cancel.ts';
export type { FoundJob } from './find-jobs.ts';
export type { ReplayOutcome, ReplayReport } from './replay.ts';
export type { ScheduleInfo } from './schedule-sync.ts';

/** Which letters: by id (optionally in one queue), or by filter. */
export type LetterTarget = { ids: string[]; queue?: string } | LetterFilter;

export interface ActionOptions {
  /** Who asked: recorded in the audit log. */
  actor: string;
}

export interface CancelOptions extends ActionOptions {
  /** The queue the ids are in. Default: each id is looked for in every queue (an id in several is `ambiguous`). */
  queue?: string;
  /**
   * How long to wait for a signalled job to stop, in ms, so the outcome's `state` is final (`cancelled`, or
   * `completed` when it finished first). Default 0: report at once (`state: 'active'`).
   */
  waitMs?: number;
}

export interface JobAdminOptions {
  connection: RedisClient;
  prefix: string;
  metrics?: JobMetrics;
  logger?: Logger;
  /** BullMQ's telemetry for the queues it reads and replays into (see `ProducerOptions.telemetry`). Default: none. */
  telemetry?: Telemetry;
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
  /**
   * Cancels jobs by id, wherever they are: a waiting, delayed or prioritized one is removed; a running one is
   * aborted in whichever worker process runs it (its `ctx.signal` fires, it fails with `JOB_CANCELLED`, is not
   * retried and not dead-lettered). Reports per id what happened, and writes the audit entry (`cancel`).
   */
  cancel(ids: readonly string[], opts: CancelOptions): Promise<CancelReport>;
  /** The registry's schedules and the job schedulers Bullpen made in Redis, with their next run times. */
  listSchedules(): Promise<ScheduleInfo[]>;
  /** A letter's step timeline from its ledger, and what a replay would skip and redo. */
  letterTimeline(id: string, queue?: string): Promise<LetterTimeline>;
  close(): Promise<void>;
}

/** Operator actions on dead letters and jobs, each recorded in the audit log. */
export function createJobAdmin<R extends Registry>(registry: R, options: JobAdminOptions): JobAdmin {
  const queues = new QueueSet(options.connection, options.prefix, options.telemetry);
  const audit = new AuditLog(options.connection, options.prefix);
  const jobs = registry.jobs as Record<string, JobDefinition>;
  const deadQueues = (queue?: string) => (queue ? [queue] : registry.queues).map((q) => queues.dead(q));
  const replayer = new Replayer(jobs, queues, options.metrics);
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
      for (const e of entries) outcomes.push(await replayer.replayOne(e, dryRun));
      for (const id of missing) {
        outcomes.push({
          id,
          queue: '',
          name: '',
          status: 'refused',
          code: JobErrorCode.DEAD_LETTER_NOT_FOUND,
          reason: 'no such letter',
        });
      }
      const { replayed, refused, outcome, detail } = replayAudit(outcomes);
      if (!dryRun) {
        await audit.append({
          actor: opts.actor,
          action: 'replay',
          ...auditQueue(entries),
          ids: outcomes.map((o) => o.id),
          outcome,
          detail,
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
      // The edit is checked against today's schema: it is today's version from now on.
      const { v: _v, ...meta } = entry.letter.meta;
      const letter: DeadLetter = {
        ...entry.letter,
        meta: { ...meta, ...versionMeta(def) },
        payload: checked.payload,
        edits: [...(entry.letter.edits ?? []), { actor: opts.actor, at }],
      };
      const job = await queues.get(entry.deadQueue).getJob(entry.id);
      if (!job) throw new DeadLetterNotFoundError(id);
      await job.updateData(letter);
      await audit.append({ actor: opts.actor, action: 'edit', ids: [id], queue: entry.queue, outcome: 'ok' });
      return { ...entry, letter };
    },

    findJobs: (term) => findJobs(registry, queues, term),

    async cancel(ids, opts) {
      const deps = { queues, client: options.connection, prefix: options.prefix, queueNames: registry.queues };
      if (opts.queue !== undefined && !registry.queues.includes(opts.queue)) throw new JobUnknownError(opts.queue);
      const outcomes: CancelOutcome[] = [];
      for (const id of ids) outcomes.push(await cancelJob(deps, id, opts));
      const cancelled = outcomes.filter((o) => o.status === 'removed' || o.status === 'signalled').length;
      const queuesTouched = new Set(outcomes.flatMap((o) => (o.queue ? [o.queue] : [])));
      await audit.append({
        actor: opts.actor,
        action: 'cancel',
        ...(queuesTouched.size === 1 ? { queue: [...queuesTouched][0]! } : {}),
        ids: [...ids],
        outcome: cancelled === outcomes.length ? 'ok' : cancelled === 0 ? 'refused' : 'partial',
        detail: { outcomes },
      });
      options.logger?.info({ actor: opts.actor, cancelled, ids: ids.length }, 'job.cancel_requested');
      return { cancelled, outcomes };
    },

    listSchedules: () => listSchedules(registry, queues),

    async letterTimeline(id, queue) {
      const entry = await findLetter(id, queue);
      if (!entry) throw new DeadLetterNotFoundError(id);
      return letterTimeline(ledger, entry);
    },

    close: () => queues.close(),
  };
}
