import { type Job, type Telemetry, Worker } from 'bullmq';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { type CancelHook, CancelListener, type CancelledJob } from './cancel.ts';
import type { RedisClient } from './connection.ts';
import type { DeadLetter } from './dead-letter.ts';
import { DeadlineSweeper, sweepTickFor } from './deadlines.ts';
import type { JobDefinition, JobNameIn, Payload, QueueName, Registry } from './define.ts';
import { coerceError, errorCode, JobErrorCode } from './errors.ts';
import { type EventRecovery, startEventRecovery } from './event-recovery.ts';
import { type JobLogOptions, JobLogs } from './job-log.ts';
import type { Handler, JobContext, JobRun } from './job-run.ts';
import { KeySlots } from './key-concurrency.ts';
import { Ledger } from './ledger.ts';
import { type DeadLetterHook, LetterWriter } from './letter-writer.ts';
import type { JobMetrics } from './metrics.ts';
import { type HandedBack, QueueProcessor, WorkerShuttingDownError } from './process-job.ts';
import { QueueSet } from './queues.ts';
import { syncSchedules } from './schedule-sync.ts';

export type { JobLogOptions } from './job-log.ts';
export type { Handler, JobContext } from './job-run.ts';
export { WorkerShuttingDownError } from './process-job.ts';

/** A job's handler, alone or with a hook for its dead letters (typed with the job's payload). */
export type JobHandler<P> =
  | Handler<P>
  | {
      handle: Handler<P>;
      /** Called after the job's letter is written (e.g. to mark an upload dead). Errors are logged, not thrown. */
      onDeadLetter?: (letter: DeadLetter<P>) => Promise<void> | void;
      /**
       * Called when a running job of this kind was stopped by a cancel (`admin.cancel`), in the worker that ran it
       * (e.g. to mark an upload cancelled). Not called for a job removed before it ran. Errors are logged, not thrown.
       */
      onCancel?: (cancelled: CancelledJob<P>) => Promise<void> | void;
    };

/** A handler for every job of the queues `Q`: a missing one is a compile error. */
export type HandlerMap<R extends Registry, Q extends QueueName<R> = QueueName<R>> = {
  [N in JobNameIn<R, Q>]: JobHandler<Payload<R, N>>;
};

export interface WorkerOptions<Q extends string> {
  /** A connection made with `createRedisConnection(..., 'worker')`; the worker does not close it. */
  connection: RedisClient;
  /** Key prefix (`BULLPEN_PREFIX`). */
  prefix: string;
  /**
   * This worker's name, stored on every job it takes (BullMQ's `processedBy`, shown in Bull Board): which
   * process ran a job. Default: none.
   */
  name?: string;
  /** Queues served; default: every queue of the registry. */
  queues?: readonly Q[];
  /** Jobs run at once per queue. Default 1. */
  concurrency?: number;
  /** How long `close()` waits for active jobs by default before handing them back, in ms. Default 25 s. */
  shutdownGraceMs?: number;
  /** A job's lock lasts this long without renewal: a dead worker's jobs resume after about this. Default 10 s. */
  lockDurationMs?: number;
  /** How often stalled jobs are looked for, in ms. Default 5 s. */
  stalledIntervalMs?: number;
  /** Redeliveries after a stall before the job fails (and is dead-lettered). Default 3. */
  maxStalledCount?: number;
  /** How long ledger entries live, in seconds. Default 7 days. */
  ledgerTtlSeconds?: number;
  logger?: Logger;
  metrics?: JobMetrics;
  /**
   * BullMQ's telemetry (e.g. `new BullMQOtel(...)` from `bullmq-otel`), given to every BullMQ `Worker` and
   * `Queue` this worker makes: each attempt runs inside a `process` span, a child of the span that enqueued
   * it, so jobs the handler enqueues stay in the same trace. Default: none (nothing traced, nothing spent).
   */
  telemetry?: Telemetry;
  /**
   * Called just before each handler runs, inside the attempt's telemetry span when there is one: e.g. to add
   * span attributes BullMQ does not set (the attempt, the idempotency key, ids from the payload). Synchronous;
   * errors are logged, never thrown. Default: none.
   */
  onJobStart?: (payload: unknown, ctx: JobContext) => void;
  /**
   * Handlers' `ctx.log` lines at info and above also go to the job's BullMQ log (Bull Board's Logs tab), in
   * batches at the end of the attempt, bounded per job; a dead letter keeps its final attempt's last lines.
   * Jobs whose handlers log nothing pay nothing. `false` turns it off. Default `{ maxLines: 50, letterLines: 20 }`.
   */
  jobLogs?: JobLogOptions | false;
  /**
   * BullMQ's own metrics: completed and failed jobs per minute, kept in Redis for `maxDataPoints` minutes, which
   * Bull Board charts on each queue page (`queue.getMetrics()`). A few Redis operations per finished job, inside
   * the script that finishes it. Default: off. A week is `{ maxDataPoints: 10_080 }`.
   */
  queueMetrics?: { maxDataPoints: number };
  /** Called after every letter is written, after the job's own `onDeadLetter`. Errors are logged, not thrown. */
  onDeadLetter?: (letter: DeadLetter) => Promise<void> | void;
  /**
   * When the registry has events: how often this worker finishes publishes a crash cut short, in ms.
   * 0 turns it off. Default 30 s.
   */
  eventRecoveryIntervalMs?: number;
  /**
   * Listen for `admin.cancel` on a subscriber connection of its own (`connection.duplicate()`), so a running job
   * is cancelled in whichever process runs it. Default true.
   */
  cancellation?: boolean;
  /**
   * At start, upsert the registry's schedules of the served queues as BullMQ job schedulers and remove the ones
   * Bullpen made that the registry no longer has. Default true.
   */
  schedules?: boolean;
}

export interface BullpenWorker {
  readonly workers: readonly Worker[];
  /** Jobs running now. */
  activeCount(): number;
  /** Resolves once every BullMQ worker is connected and waiting for jobs. */
  waitUntilReady(): Promise<void>;
  /**
   * Stops taking jobs, lets active ones finish within `deadlineMs` (default `shutdownGraceMs`), then aborts
   * the rest and hands them back to the queue at once (no attempt is spent), and closes.
   */
  close(opts?: { deadlineMs?: number }): Promise<{ handedBack: number }>;
}

type HandlerEntry = JobHandler<unknown>;
const handleOf = (e: HandlerEntry | undefined) => (typeof e === 'function' ? e : e?.handle);

/** The served queues' handlers, checked: every job of those queues has one. */
function resolveHandlers(registry: Registry, served: readonly string[], handlers: object) {
  for (const q of served) {
    if (!registry.queues.includes(q)) throw new TypeError(`queue "${q}" is not in the registry`);
  }
  const table = handlers as Record<string, HandlerEntry | undefined>;
  const handles: Record<string, Handler | undefined> = {};
  const hooks: Record<string, DeadLetterHook | undefined> = {};
  const cancelHooks: Record<string, CancelHook | undefined> = {};
  for (const q of served) {
    for (const def of registry.jobsOf(q)) {
      const entry = table[def.name];
      const handle = handleOf(entry);
      if (typeof handle !== 'function') throw new TypeError(`no handler for job "${def.name}"`);
      handles[def.name] = handle;
      if (typeof entry === 'object') {
        hooks[def.name] = entry.onDeadLetter as DeadLetterHook | undefined;
        cancelHooks[def.name] = entry.onCancel as CancelHook | undefined;
      }
    }
  }
  return { handles, hooks, cancelHooks };
}

/** Serves the registry's queues with the given handlers. */
export function createWorker<R extends Registry, Q extends QueueName<R> = QueueName<R>>(
  registry: R,
  handlers: HandlerMap<R, Q>,
  options: WorkerOptions<Q>,
): BullpenWorker {
  const jobs = registry.jobs as Record<string, JobDefinition>;
  const served = (options.queues ?? registry.queues) as readonly string[];
  const { handles, hooks, cancelHooks } = resolveHandlers(registry, served, handlers);
  const logger = options.logger ?? pino({ level: 'silent' });
  const { metrics } = options;
  const conn = options.connection;
  const { telemetry } = options;
  const queues = new QueueSet(conn, options.prefix, telemetry);
  const letters = new LetterWriter({
    jobs,
    queues,
    metrics,
    hookOf: (name) => hooks[name],
    onDeadLetter: options.onDeadLetter as DeadLetterHook | undefined,
  });
  const active = new Map<Job, JobRun>();
  const handBack: HandedBack[] = [];
  /** Called when the last active job settles (close() waits on it). */
  let whenIdle: (() => void) | undefined;
  const idle = () => (active.size === 0 ? Promise.resolve() : new Promise<void>((r) => (whenIdle = r)));
  const sweeper = new DeadlineSweeper(sweepTickFor(Object.values(jobs).map((d) => d.timeoutMs)));
  const lockDuration = options.lockDurationMs ?? 10_000;
  const servedJobs = served.flatMap((q) => registry.jobsOf(q));
  // Only a worker serving a job with a concurrencyKey has slots (and their renew timer).
  const keySlots = servedJobs.some((d) => d.concurrencyKey)
    ? new KeySlots(conn, options.prefix, lockDuration, logger)
    : undefined;
  const cancels =
    options.cancellation === false
      ? undefined
      : new CancelListener(conn, options.prefix, new Set(served), active, logger);
  const processor = new QueueProcessor({
    client: conn,
    prefix: options.prefix,
    jobs,
    handlers: handles,
    ledger: new Ledger(conn, options.prefix, options.ledgerTtlSeconds ?? 7 * 24 * 3600),
    logger,
    metrics,
    sweeper,
    letters,
    active,
    handBack,
    onIdle: () => whenIdle?.(),
    onJobStart: options.onJobStart,
    jobLogs: options.jobLogs === false ? undefined : new JobLogs(conn, logger, options.jobLogs),
    keySlots,
    cancels,
    cancelHookOf: (name) => cancelHooks[name],
  });

  const workers = served.map((queue) => {
    const limit = registry.rateLimitOf(queue);
    const w = new Worker(queue, processor.process, {
      connection: conn,
      prefix: options.prefix,
      ...(options.name ? { name: options.name } : {}),
      ...(telemetry ? { telemetry } : {}),
      ...(options.queueMetrics ? { metrics: { maxDataPoints: options.queueMetrics.maxDataPoints } } : {}),
      concurrency: options.concurrency ?? 1,
      // BullMQ's limiter counts per queue in Redis, so every worker of the queue shares it.
      ...(limit ? { limiter: { max: limit.max, duration: limit.durationMs } } : {}),
      lockDuration,
      stalledInterval: options.stalledIntervalMs ?? 5_000,
      maxStalledCount: options.maxStalledCount ?? 3,
      autorun: true,
    });
    w.on('error', (err) => logger.error({ err, queue }, 'worker.error'));
    // Failures BullMQ decides on its own (a job stalled too often) never reach the processor: letter them here.
    w.on('failed', (job, err) => {
      if (!job?.finishedOn || letters.takeLettered(job)) return;
      const log = logger.child({ queue, job: job.name, jobId: job.id });
      // Keep the error's own code; BullMQ's own final failures are stalls ("job stalled more than allowable limit").
      const error = coerceError(err);
      const code =
        errorCode(error) ?? (/stalled/i.test(error.message) ? JobErrorCode.JOB_STALLED : JobErrorCode.JOB_FAILED);
      void letters.write(job, Object.assign(error, { code }), log).catch(() => {});
    });
    return w;
  });
  metrics?.watchQueues(served.flatMap((q) => [queues.get(q), queues.dead(q)]));

  // Both in the background: createWorker stays synchronous; waitUntilReady waits for them, close() too.
  const listening = cancels?.start();
  listening?.catch((err: unknown) => logger.error({ err }, 'cancel.subscribe_failed'));
  const scheduled =
    options.schedules === false || registry.schedules.length === 0
      ? undefined
      : syncSchedules(registry, served, queues, logger);
  scheduled?.catch((err: unknown) => logger.error({ err }, 'schedule.sync_failed'));

  const recoveryMs = options.eventRecoveryIntervalMs ?? 30_000;
  const recovery: EventRecovery | undefined =
    recoveryMs > 0 && Object.keys(registry.events).length > 0
      ? startEventRecovery(registry, {
          connection: conn,
          prefix: options.prefix,
          logger,
          intervalMs: recoveryMs,
          telemetry,
        })
      : undefined;

  /** Puts jobs aborted at shutdown back at the head of the wait list, releasing our locks: no attempt spent. */
  async function handBackAborted(): Promise<void> {
    for (const { queue, id, token } of handBack.splice(0)) {
      try {
        const job = await queues.get(queue).getJob(id);
        await job?.moveToWait(token);
      } catch (err) {
        logger.warn({ err, queue, jobId: id }, 'job.hand_back_failed');
      }
    }
  }

  /** Waits up to `deadlineMs` for the active jobs; true when some were still running then. */
  async function drain(deadlineMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      idle().then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), deadlineMs);
      }),
    ]);
    clearTimeout(timer);
    return timedOut;
  }

  /** Aborts every active job with `WorkerShuttingDownError` and gives them up to 2 s to settle. */
  async function abortActive(): Promise<void> {
    for (const run of active.values()) run.abort(new WorkerShuttingDownError());
    let settle: NodeJS.Timeout | undefined;
    await Promise.race([idle(), new Promise((r) => (settle = setTimeout(r, 2000)))]);
    clearTimeout(settle);
  }

  let closing: Promise<{ handedBack: number }> | undefined;
  return {
    workers,
    activeCount: () => active.size,
    async waitUntilReady() {
      await Promise.all([...workers.map((w) => w.waitUntilReady()), listening, scheduled]);
    },
    close(opts = {}) {
      closing ??= (async () => {
        const deadlineMs = opts.deadlineMs ?? options.shutdownGraceMs ?? 25_000;
        // Stop fetching; active jobs go on.
        await Promise.all(workers.map((w) => w.pause(true).catch(() => {})));
        const timedOut = await drain(deadlineMs);
        const handedBack = timedOut ? active.size : 0;
        if (timedOut) {
          logger.warn({ jobs: handedBack, deadlineMs }, 'worker.grace_period_over');
          await abortActive();
        }
        // Closed before the hand-back: a closing worker would fetch the handed-back jobs again.
        await Promise.all(workers.map((w) => w.close(timedOut).catch(() => {})));
        await handBackAborted();
        sweeper.stop();
        keySlots?.stop();
        await Promise.all([listening?.catch(() => {}), scheduled?.catch(() => {})]);
        await cancels?.close();
        await recovery?.stop();
        await queues.close();
        return { handedBack };
      })();
      return closing;
    },
  };
}
