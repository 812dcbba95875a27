import { DelayedError, type Job, UnrecoverableError, WaitingError } from 'bullmq';
import type { Logger } from 'pino';
import type { CancelHook, CancelListener } from './cancel.ts';
import type { RedisClient } from './connection.ts';
import type { DeadlineSweeper } from './deadlines.ts';
import type { JobDefinition } from './define.ts';
import { envelopeSchema, type JobMeta, ledgerIdFor } from './envelope.ts';
import {
  BullpenError,
  coerceError,
  errorCode,
  InvalidQueuedPayloadError,
  type JobCancelledError,
  JobErrorCode,
  UnknownQueuedJobError,
} from './errors.ts';
import type { JobLogs } from './job-log.ts';
import { type Handler, type JobContext, JobRun } from './job-run.ts';
import type { KeySlots } from './key-concurrency.ts';
import type { Ledger } from './ledger.ts';
import type { LetterWriter } from './letter-writer.ts';
import type { JobMetrics, JobSeries } from './metrics.ts';
import { migratePayload } from './payload-versions.ts';
import { JobPostponedError, postponeJob } from './postpone.ts';

/** Raised inside a handler's signal when the worker shuts down past its grace period. */
export class WorkerShuttingDownError extends BullpenError {
  constructor() {
    super(JobErrorCode.WORKER_SHUTTING_DOWN, 'Worker is shutting down');
  }
}

/** A job aborted at shutdown, to be put back at the head of its queue once the BullMQ workers are closed. */
export interface HandedBack {
  queue: string;
  id: string;
  token: string;
}

/** What every queue's processor of one worker shares. */
export interface ProcessorDeps {
  client: RedisClient;
  prefix: string;
  jobs: Readonly<Record<string, JobDefinition>>;
  handlers: Readonly<Record<string, Handler | undefined>>;
  ledger: Ledger;
  logger: Logger;
  metrics?: JobMetrics | undefined;
  sweeper: DeadlineSweeper;
  letters: LetterWriter;
  /** The runs in progress, by BullMQ job object (ids repeat across queues). */
  active: Map<Job, JobRun>;
  handBack: HandedBack[];
  /** Called when the last active run settles. */
  onIdle(): void;
  /** Where handlers' log lines are also kept (see `WorkerOptions.jobLogs`); none: stdout only. */
  jobLogs?: JobLogs | undefined;
  /** Called before each handler runs (see `WorkerOptions.onJobStart`). */
  onJobStart?: ((payload: unknown, ctx: JobContext) => void) | undefined;
  /** Per-key concurrency, when a served job declares a `concurrencyKey`. */
  keySlots?: KeySlots | undefined;
  /** Cancels from `admin.cancel`, when the worker listens for them. */
  cancels?: CancelListener | undefined;
  /** The `onCancel` hook of a job's handler entry, if it has one. */
  cancelHookOf?: ((jobName: string) => CancelHook | undefined) | undefined;
}

const META_FIELDS = ['key', 'ledger', 'requestId', 'replayOf', 'eventId'] as const;

/** `envelopeSchema` without zod, for the hot path: `{ payload, meta? }` with string meta fields. */
function isEnvelope(data: unknown): data is { payload: unknown; meta?: JobMeta } {
  if (typeof data !== 'object' || data === null || Array.isArray(data) || !('payload' in data)) return false;
  const meta = (data as { meta?: unknown }).meta;
  if (meta === undefined) return true;
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) return false;
  for (const f of META_FIELDS) {
    const v = (meta as Record<string, unknown>)[f];
    if (v !== undefined && typeof v !== 'string') return false;
  }
  return true;
}

/** A job whose envelope and payload passed: its definition, handler and parsed payload. */
interface Parsed {
  def: JobDefinition;
  handler: Handler;
  payload: unknown;
  /** Keyed work (or a replay): its result is stored as done. */
  keyed: boolean;
}

/** A parsed job and the steps already done. */
interface Checked extends Parsed {
  steps?: Map<string, unknown>;
}

function metaOf(data: unknown): JobMeta {
  const meta = (data as { meta?: unknown } | null)?.meta;
  return typeof meta === 'object' && meta !== null ? (meta as JobMeta) : {};
}

/** The child logger of a job outside its run (a failure before the handler started, say). */
export function jobLogger(logger: Logger, job: Job, meta: JobMeta): Logger {
  return logger.child({
    queue: job.queueName,
    job: job.name,
    jobId: job.id,
    attempt: job.attemptsMade + 1,
    ...(meta.requestId ? { requestId: meta.requestId } : {}),
  });
}

/**
 * BullMQ's processor for one queue: checks the envelope and re-parses the payload with today's schema (a
 * misfit is dead-lettered at once), reads the ledger when there can be something in it, completes a job whose
 * key is done without running it, runs the handler against its deadline and the shutdown, counts and logs the
 * outcome, and writes the dead letter on a final failure before BullMQ marks the job failed.
 */
export class QueueProcessor {
  private readonly series = new Map<string, JobSeries>();
  /** The last log lines of an attempt that failed, for its letter (only jobs that logged are here). */
  private readonly failedLogs = new WeakMap<Job, string[]>();

  constructor(private readonly deps: ProcessorDeps) {}

  /** For BullMQ's `Worker`: `(job, token) => result`. */
  readonly process = async (job: Job, token?: string): Promise<unknown> => {
    const started = performance.now();
    const meta = metaOf(job.data);
    const series = this.seriesOf(job);
    try {
      const result = await this.run(job, token, meta);
      const seconds = (performance.now() - started) / 1000;
      series?.completed.inc();
      series?.completedSeconds.observe(seconds);
      const { logger } = this.deps;
      if (logger.isLevelEnabled('info')) {
        jobLogger(logger, job, meta).info({ durationMs: Math.round(seconds * 1000) }, 'job.completed');
      }
      return result;
    } catch (caught) {
      // Handed back at shutdown, or put back by a key at its cap (key-concurrency.ts): neither done nor failed.
      if (caught instanceof WaitingError || caught instanceof DelayedError) throw caught;
      // Back to delayed without spending an attempt, unless its postponement window is spent (postpone.ts).
      const thrown =
        caught instanceof JobPostponedError
          ? await postponeJob(job, token, caught, {
              client: this.deps.client,
              prefix: this.deps.prefix,
              log: jobLogger(this.deps.logger, job, meta),
            })
          : caught;
      if (thrown instanceof DelayedError) throw thrown;
      series?.failed.inc();
      series?.failedSeconds.observe((performance.now() - started) / 1000);
      throw await this.failed(job, meta, coerceError(thrown));
    }
  };

  /** When and where the attempt failed, for the letter's timeline; a failed record never hides the job's error. */
  private async recordFailure(job: Job, run: JobRun, err: Error): Promise<void> {
    const step = run.failedStep(err);
    const code = errorCode(err);
    await this.deps.ledger
      .recordFailure(run.ledgerId, {
        jobId: job.id!,
        attempt: run.attempt,
        at: new Date().toISOString(),
        ...(job.processedOn ? { startedAt: new Date(job.processedOn).toISOString() } : {}),
        ...(step !== undefined ? { step } : {}),
        ...(code ? { code } : {}),
        name: err.name,
        message: err.message,
      })
      .catch((recordErr) => run.log.warn({ err: recordErr }, 'job.failure_record_failed'));
  }

  private seriesOf(job: Job): JobSeries | undefined {
    const { metrics } = this.deps;
    if (!metrics) return undefined;
    let s = this.series.get(job.name);
    if (!s) {
      s = metrics.forJob(job.queueName, job.name);
      this.series.set(job.name, s);
    }
    return s;
  }

  /** Logs a failed attempt and, when it is the last, writes the letter; returns the error to rethrow. */
  private async failed(job: Job, meta: JobMeta, err: Error): Promise<Error> {
    const permanent = err instanceof UnrecoverableError || err.name === 'UnrecoverableError';
    const final = permanent || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const log = jobLogger(this.deps.logger, job, meta);
    if (errorCode(err) === JobErrorCode.JOB_CANCELLED) {
      // Asked for: no retry (it is permanent), no dead letter.
      log.info({ reason: err.message }, 'job.cancelled');
      await this.cancelled(job, err as JobCancelledError, log);
      return err;
    }
    log[final ? 'error' : 'warn']({ err, code: errorCode(err), final }, 'job.failed');
    // When the letter cannot be written the job still fails with its own error; the `failed` listener tries
    // the letter once more.
    const logs = this.failedLogs.get(job);
    if (logs) this.failedLogs.delete(job);
    if (final) await this.deps.letters.write(job, err, log, logs).catch(() => {});
    return err;
  }

  /** Runs the job's `onCancel` hook; its errors are logged, never thrown. */
  private async cancelled(job: Job, err: JobCancelledError, log: Logger): Promise<void> {
    const hook = this.deps.cancelHookOf?.(job.name);
    if (!hook) return;
    try {
      const data = job.data as { payload?: unknown } | null;
      await hook({
        jobId: job.id!,
        queue: job.queueName,
        name: job.name,
        payload: data?.payload as never,
        ...(err.actor ? { actor: err.actor } : {}),
      });
    } catch (hookErr) {
      log.error({ err: hookErr }, 'job.cancel_hook_failed');
    }
  }

  /** Not async itself (a sync throw lands in process()'s try): a job without a concurrency key costs no extra promise. */
  private run(job: Job, token: string | undefined, meta: JobMeta): Promise<unknown> {
    const parsed = this.parse(job, meta);
    const { keySlots } = this.deps;
    if (parsed.def.concurrencyKey !== undefined && keySlots) {
      return keySlots.hold(job, token, parsed.def, parsed.payload, () => this.runParsed(job, token, meta, parsed));
    }
    return this.runParsed(job, token, meta, parsed);
  }

  private async runParsed(job: Job, token: string | undefined, meta: JobMeta, parsed: Parsed): Promise<unknown> {
    // A first attempt of keyless work has nothing stored yet: no read, no round trip.
    const redelivered = job.attemptsMade > 0 || (job.attemptsStarted ?? 1) > 1;
    const checked = parsed.keyed || redelivered ? await this.load(job, meta, parsed, redelivered) : parsed;
    if ('done' in checked) {
      jobLogger(this.deps.logger, job, meta).info('job.already_done');
      return checked.done;
    }
    return this.runHandler(job, token, meta, checked);
  }

  /**
   * The job's definition, handler and payload (migrated from its version, then parsed with today's schema).
   * Throws a permanent error for a job no handler serves or whose data no longer fits.
   */
  private parse(job: Job, meta: JobMeta): Parsed {
    const { jobs, handlers } = this.deps;
    const def = jobs[job.name];
    const handler = def && def.queue === job.queueName ? handlers[job.name] : undefined;
    if (!def || !handler) throw new UnknownQueuedJobError(job.name);
    const data = job.data as unknown;
    if (!isEnvelope(data)) {
      // The cheap check failed: zod says exactly what is wrong.
      const envelope = envelopeSchema.safeParse(data);
      throw new InvalidQueuedPayloadError(job.name, envelope.success ? [] : envelope.error.issues);
    }
    // Absent means version 1: a job of today's version costs one comparison.
    const from = meta.v ?? 1;
    const raw = from === def.version ? data.payload : migratePayload(def, data.payload, from);
    const parsed = def.payload.safeParse(raw);
    if (!parsed.success) throw new InvalidQueuedPayloadError(job.name, parsed.error.issues);
    const keyed = meta.key !== undefined || meta.ledger !== undefined;
    return { def, handler, payload: parsed.data, keyed };
  }

  /** The steps already done, or the stored result of work already done. */
  private async load(
    job: Job,
    meta: JobMeta,
    parsed: Parsed,
    redelivered: boolean,
  ): Promise<Checked | { done: unknown }> {
    const { ledger, cancels } = this.deps;
    const loading = ledger.load(ledgerIdFor(job.name, job.queueName, job.id!, meta));
    let state: Awaited<typeof loading>;
    if (redelivered && cancels) {
      // It may have been cancelled while no worker held it: the marker read is sent right after the ledger's, so
      // it travels in the same round trip.
      const [loaded, cancelled] = await Promise.all([loading, cancels.markerOf(job)]);
      if (cancelled) throw cancelled;
      state = loaded;
    } else {
      state = await loading;
    }
    if (state.done) return { done: state.done.result };
    return { ...parsed, steps: state.steps };
  }

  private startHook(run: JobRun, payload: unknown): void {
    try {
      this.deps.onJobStart!(payload, run);
    } catch (err) {
      run.log.warn({ err }, 'job.start_hook_failed');
    }
  }

  private async runHandler(job: Job, token: string | undefined, meta: JobMeta, c: Checked): Promise<unknown> {
    const { active, sweeper, ledger } = this.deps;
    const run = new JobRun(job, meta, this.deps.logger, c.def.timeoutMs, ledger, c.steps, this.deps.jobLogs);
    active.set(job, run);
    sweeper.watch(run);
    if (this.deps.onJobStart) this.startHook(run, c.payload);
    try {
      // A cancel that arrived between the fetch and now (an empty map but for that race): the run fails at once.
      this.deps.cancels?.abortIfPending(job, run);
      const result = await run.run(c.handler, c.payload);
      if (c.keyed) await ledger.markDone(run.ledgerId, result ?? null);
      return result;
    } catch (err) {
      if (run.aborted instanceof WorkerShuttingDownError && token) {
        // Handed back by close() once the BullMQ workers are closed (else this worker would fetch it again);
        // no attempt is spent.
        this.deps.handBack.push({ queue: job.queueName, id: job.id!, token });
        run.log.warn('job.handed_back');
        throw new WaitingError();
      }
      // A postponed job did not fail: it runs again later, no attempt spent.
      if (!(err instanceof JobPostponedError)) {
        await this.recordFailure(job, run, coerceError(err));
        const logs = run.lastLogLines();
        if (logs) this.failedLogs.set(job, logs);
      }
      throw err;
    } finally {
      // Before the job completes or fails, so its log is there when it shows as finished.
      const flushing = run.flushLogs();
      if (flushing) await flushing;
      sweeper.unwatch(run);
      active.delete(job);
      if (active.size === 0) this.deps.onIdle();
    }
  }
}
