import { type Job, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import type { Logger } from 'pino';
import { pino } from 'pino';
import type { RedisClient } from './connection.ts';
import { buildLetter, type DeadLetter, writeLetter } from './dead-letter.ts';
import type { JobDefinition, JobNameIn, Payload, QueueName, Registry } from './define.ts';
import { envelopeSchema, type JobMeta, ledgerIdFor } from './envelope.ts';
import {
  BullpenError,
  coerceError,
  errorCode,
  InvalidQueuedPayloadError,
  JobErrorCode,
  JobTimeoutError,
  UnknownQueuedJobError,
} from './errors.ts';
import { Ledger, type LedgerState } from './ledger.ts';
import type { JobMetrics } from './metrics.ts';
import { createProducer } from './producer.ts';
import { QueueSet } from './queues.ts';

/** What a handler gets besides its payload. */
export interface JobContext {
  /** pino child bound to `{ queue, job, jobId, attempt, requestId }`. */
  log: Logger;
  /** 1 for the first try. */
  attempt: number;
  /** Aborts when the job times out, is cancelled, or the worker shuts down past its grace period. */
  signal: AbortSignal;
  /** Reports progress (0-100, or an object) to the queue. */
  progress(value: number | object): Promise<void>;
  /**
   * Runs `fn` once per unit of work: its JSON result is stored under the job's idempotency key, and a
   * redelivered or replayed job gets the stored result instead of running `fn` again.
   */
  step<T>(name: string, fn: () => Promise<T> | T): Promise<T>;
  job: {
    id: string;
    name: string;
    queue: string;
    idempotencyKey?: string;
    requestId?: string;
    replayOf?: string;
  };
}

export type Handler<P = unknown, Result = unknown> = (payload: P, ctx: JobContext) => Promise<Result> | Result;

/** A handler for every job of the queues `Q`: a missing one is a compile error. */
export type HandlerMap<R extends Registry, Q extends QueueName<R> = QueueName<R>> = {
  [N in JobNameIn<R, Q>]: Handler<Payload<R, N>>;
};

export interface WorkerOptions<Q extends string> {
  /** A connection made with `createRedisConnection(..., 'worker')`; the worker does not close it. */
  connection: RedisClient;
  /** Key prefix (`BULLPEN_PREFIX`). */
  prefix: string;
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
  /** Called after a letter is written (e.g. to mark an upload dead). Errors are logged, not thrown. */
  onDeadLetter?: (letter: DeadLetter) => Promise<void> | void;
  /**
   * When the registry has events: how often this worker finishes publishes a crash cut short
   * (`resumePendingEvents`), in ms. 0 turns it off. Default 30 s.
   */
  eventRecoveryIntervalMs?: number;
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

/** Raised inside a handler's signal when the worker shuts down past its grace period. */
export class WorkerShuttingDownError extends BullpenError {
  constructor() {
    super(JobErrorCode.WORKER_SHUTTING_DOWN, 'Worker is shutting down');
  }
}

interface Active {
  abort(reason: Error): void;
}

const META_FIELDS = ['key', 'ledger', 'requestId', 'replayOf', 'eventId'] as const;

/** Job ids are unique per queue only (BullMQ's own ids are counters): key in-process maps by both. */
const jobRef = (job: Job) => `${job.queueName}\u0000${job.id}`;

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

/** Serves the registry's queues with the given handlers. */
export function createWorker<R extends Registry, Q extends QueueName<R> = QueueName<R>>(
  registry: R,
  handlers: HandlerMap<R, Q>,
  options: WorkerOptions<Q>,
): BullpenWorker {
  const jobs = registry.jobs as Record<string, JobDefinition>;
  const served = (options.queues ?? registry.queues) as readonly string[];
  for (const q of served) {
    if (!registry.queues.includes(q)) throw new TypeError(`queue "${q}" is not in the registry`);
  }
  const table = handlers as unknown as Record<string, Handler | undefined>;
  for (const q of served) {
    for (const def of registry.jobsOf(q)) {
      if (typeof table[def.name] !== 'function') throw new TypeError(`no handler for job "${def.name}"`);
    }
  }
  const logger = options.logger ?? pino({ level: 'silent' });
  const { metrics } = options;
  const conn = options.connection;
  const queues = new QueueSet(conn, options.prefix);
  const ledger = new Ledger(conn, options.prefix, options.ledgerTtlSeconds ?? 7 * 24 * 3600);
  const active = new Map<string, Active>();
  const lettered = new Set<string>();
  const handBack: { queue: string; id: string; token: string }[] = [];
  /** Called when the last active job settles (close() waits on it). */
  let whenIdle: (() => void) | undefined;
  const idle = () => (active.size === 0 ? Promise.resolve() : new Promise<void>((r) => (whenIdle = r)));
  let closing: Promise<{ handedBack: number }> | undefined;
  const closers: (() => Promise<void>)[] = [];

  async function deadLetter(job: Job, err: Error, log: Logger): Promise<void> {
    const def = jobs[job.name];
    if (def && !def.deadLetter) return;
    const letter = buildLetter(job, err);
    // The letter must be in Redis before the job is marked failed; try a few times before giving up.
    for (let i = 0; ; i++) {
      try {
        await writeLetter(queues, letter);
        break;
      } catch (writeErr) {
        if (i >= 4) {
          log.error({ err: writeErr }, 'job.dead_letter_write_failed');
          throw writeErr;
        }
        await new Promise((r) => setTimeout(r, 200 * 2 ** i));
      }
    }
    lettered.add(jobRef(job));
    metrics?.deadLettered.inc({ queue: job.queueName, job: job.name, code: letter.code });
    log.warn(
      { code: letter.code, fingerprint: letter.fingerprint, attempts: letter.attempts.length },
      'job.dead_lettered',
    );
    if (options.onDeadLetter) {
      try {
        await options.onDeadLetter(letter);
      } catch (hookErr) {
        log.error({ err: hookErr }, 'job.dead_letter_hook_failed');
      }
    }
  }

  async function run(job: Job, token: string | undefined, log: () => Logger, meta: JobMeta) {
    const def = jobs[job.name];
    const handler = def && def.queue === job.queueName ? table[job.name] : undefined;
    if (!def || !handler) throw new UnknownQueuedJobError(job.name);
    const data = job.data as { payload?: unknown; meta?: unknown } | null;
    if (!isEnvelope(data)) {
      // The cheap check failed: zod says exactly what is wrong.
      const envelope = envelopeSchema.safeParse(data);
      throw new InvalidQueuedPayloadError(job.name, envelope.success ? [] : envelope.error.issues);
    }
    const parsed = def.payload.safeParse(data.payload);
    if (!parsed.success) throw new InvalidQueuedPayloadError(job.name, parsed.error.issues);

    const id = job.id!;
    const ledgerId = ledgerIdFor(job.name, job.queueName, id, meta);
    const keyed = meta.key !== undefined || meta.ledger !== undefined;
    // A first attempt of keyless work has nothing stored yet: no read, no round trip.
    const redelivered = job.attemptsMade > 0 || (job.attemptsStarted ?? 1) > 1;
    const state: LedgerState = keyed || redelivered ? await ledger.load(ledgerId) : { steps: new Map() };
    if (state.done) {
      log().info('job.already_done');
      return state.done.result;
    }

    // The hot path allocates only what a job uses: the AbortController exists once a handler reads
    // ctx.signal or the job is aborted.
    let controller: AbortController | undefined;
    let abortReason: Error | undefined;
    // For the failure record: the steps running now, and the last step that threw (with its error).
    let running: Set<string> | undefined;
    let thrownIn: { step: string; err: unknown } | undefined;
    let rejectRun: ((err: Error) => void) | undefined;
    const signal = () => {
      controller ??= new AbortController();
      if (abortReason && !controller.signal.aborted) controller.abort(abortReason);
      return controller.signal;
    };
    const abort = (reason: Error) => {
      if (abortReason) return;
      abortReason = reason;
      controller?.abort(reason);
      rejectRun?.(reason);
    };
    const ctx: JobContext = {
      get log() {
        return log();
      },
      attempt: job.attemptsMade + 1,
      get signal() {
        return signal();
      },
      progress: (value) => job.updateProgress(value),
      async step(name, fn) {
        if (state.steps.has(name)) {
          log().debug({ step: name }, 'job.step_skipped');
          return state.steps.get(name) as Awaited<ReturnType<typeof fn>>;
        }
        if (abortReason) throw abortReason;
        running ??= new Set();
        running.add(name);
        try {
          const result = await fn();
          await ledger.saveStep(ledgerId, name, result);
          state.steps.set(name, result);
          return result;
        } catch (err) {
          thrownIn = { step: name, err };
          throw err;
        } finally {
          running.delete(name);
        }
      },
      job: {
        id,
        name: job.name,
        queue: job.queueName,
        ...(meta.key ? { idempotencyKey: meta.key } : {}),
        ...(meta.requestId ? { requestId: meta.requestId } : {}),
        ...(meta.replayOf ? { replayOf: meta.replayOf } : {}),
      },
    };
    let timer: NodeJS.Timeout | undefined;
    const ref = jobRef(job);
    active.set(ref, { abort });
    try {
      // The handler races its deadline and the shutdown: whichever comes first settles the attempt.
      const result = await new Promise<unknown>((resolve, reject) => {
        rejectRun = reject;
        timer = setTimeout(() => abort(new JobTimeoutError(def.timeoutMs)), def.timeoutMs);
        Promise.resolve()
          .then(() => handler(parsed.data, ctx))
          .then(resolve, reject);
      });
      if (keyed) await ledger.markDone(ledgerId, result ?? null);
      return result;
    } catch (err) {
      if (abortReason instanceof WorkerShuttingDownError && token) {
        // Handed back by close() once the BullMQ workers are closed (else this worker would fetch it again);
        // no attempt is spent.
        handBack.push({ queue: job.queueName, id, token });
        log().warn('job.handed_back');
        throw new WaitingError();
      }
      // When and where the attempt failed, for the letter's timeline; a failed record never hides the job's error.
      const e = coerceError(err);
      const fromStep = thrownIn && (thrownIn.err === err || (e.cause !== undefined && e.cause === thrownIn.err));
      const step = fromStep ? thrownIn!.step : running?.values().next().value;
      await ledger
        .recordFailure(ledgerId, {
          jobId: id,
          attempt: job.attemptsMade + 1,
          at: new Date().toISOString(),
          ...(job.processedOn ? { startedAt: new Date(job.processedOn).toISOString() } : {}),
          ...(step !== undefined ? { step } : {}),
          ...(errorCode(e) ? { code: errorCode(e) } : {}),
          name: e.name,
          message: e.message,
        })
        .catch((recordErr) => log().warn({ err: recordErr }, 'job.failure_record_failed'));
      throw err;
    } finally {
      clearTimeout(timer);
      active.delete(ref);
      if (active.size === 0) whenIdle?.();
    }
  }

  async function processor(job: Job, token?: string) {
    const started = performance.now();
    const rawMeta = (job.data as { meta?: unknown } | null)?.meta;
    const meta: JobMeta = typeof rawMeta === 'object' && rawMeta !== null ? (rawMeta as JobMeta) : {};
    let childLog: Logger | undefined;
    const log = () =>
      (childLog ??= logger.child({
        queue: job.queueName,
        job: job.name,
        jobId: job.id,
        attempt: job.attemptsMade + 1,
        ...(meta.requestId ? { requestId: meta.requestId } : {}),
      }));
    const labels = { queue: job.queueName, job: job.name };
    try {
      const result = await run(job, token, log, meta);
      const seconds = (performance.now() - started) / 1000;
      metrics?.completed.inc(labels);
      metrics?.processingSeconds.observe({ ...labels, outcome: 'completed' }, seconds);
      if (logger.isLevelEnabled('info')) log().info({ durationMs: Math.round(seconds * 1000) }, 'job.completed');
      return result;
    } catch (thrown) {
      if (thrown instanceof WaitingError) throw thrown;
      const err = coerceError(thrown);
      metrics?.failed.inc(labels);
      metrics?.processingSeconds.observe({ ...labels, outcome: 'failed' }, (performance.now() - started) / 1000);
      const permanent = err instanceof UnrecoverableError || err.name === 'UnrecoverableError';
      const final = permanent || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      log()[final ? 'error' : 'warn']({ err, code: errorCode(err), final }, 'job.failed');
      if (final) {
        // When the letter cannot be written the job still fails with its own error; the `failed` listener
        // tries the letter once more.
        await deadLetter(job, err, log()).catch(() => {});
      }
      throw err;
    }
  }

  const concurrency = options.concurrency ?? 1;
  const workers = served.map((queue) => {
    const w = new Worker(queue, processor, {
      connection: conn,
      prefix: options.prefix,
      concurrency,
      lockDuration: options.lockDurationMs ?? 10_000,
      stalledInterval: options.stalledIntervalMs ?? 5_000,
      maxStalledCount: options.maxStalledCount ?? 3,
      autorun: true,
    });
    w.on('error', (err) => logger.error({ err, queue }, 'worker.error'));
    // Failures BullMQ decides on its own (a job stalled too often) never reach the processor: letter them here.
    w.on('failed', (job, err) => {
      if (!job?.finishedOn || lettered.delete(jobRef(job))) return;
      const log = logger.child({ queue, job: job.name, jobId: job.id });
      // Keep the error's own code; BullMQ's own final failures are stalls ("job stalled more than allowable limit").
      const error = coerceError(err);
      const code =
        errorCode(error) ?? (/stalled/i.test(error.message) ? JobErrorCode.JOB_STALLED : JobErrorCode.JOB_FAILED);
      void deadLetter(job, Object.assign(error, { code }), log).catch(() => {});
    });
    return w;
  });
  metrics?.watchQueues(served.flatMap((q) => [queues.get(q), queues.dead(q)]));

  // A publish that died between recording its event and enqueuing every subscriber is finished here.
  const recoveryMs = options.eventRecoveryIntervalMs ?? 30_000;
  let recovery: NodeJS.Timeout | undefined;
  if (recoveryMs > 0 && Object.keys(registry.events).length > 0) {
    const producer = createProducer(registry, { connection: conn, prefix: options.prefix, logger });
    let running = false;
    recovery = setInterval(() => {
      if (running) return;
      running = true;
      producer
        .resumePendingEvents()
        .then((n) => n > 0 && logger.warn({ events: n }, 'event.resumed'))
        .catch((err) => logger.warn({ err }, 'event.resume_failed'))
        .finally(() => {
          running = false;
        });
    }, recoveryMs);
    recovery.unref();
    closers.push(() => producer.close());
  }

  return {
    workers,
    activeCount: () => active.size,
    async waitUntilReady() {
      await Promise.all(workers.map((w) => w.waitUntilReady()));
    },
    close(opts = {}) {
      closing ??= (async () => {
        const deadlineMs = opts.deadlineMs ?? options.shutdownGraceMs ?? 25_000;
        // Stop fetching; active jobs go on.
        await Promise.all(workers.map((w) => w.pause(true).catch(() => {})));
        const finished = idle();
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          finished.then(() => false),
          new Promise<boolean>((r) => {
            timer = setTimeout(() => r(true), deadlineMs);
          }),
        ]);
        clearTimeout(timer);
        let handedBack = 0;
        if (timedOut) {
          handedBack = active.size;
          logger.warn({ jobs: handedBack, deadlineMs }, 'worker.grace_period_over');
          for (const a of active.values()) a.abort(new WorkerShuttingDownError());
          let settle: NodeJS.Timeout | undefined;
          await Promise.race([idle(), new Promise((r) => (settle = setTimeout(r, 2000)))]);
          clearTimeout(settle);
        }
        await Promise.all(workers.map((w) => w.close(timedOut).catch(() => {})));
        // Our locks are still held: release them and put the jobs back at the head of the wait list.
        for (const { queue, id, token } of handBack.splice(0)) {
          try {
            const job = await queues.get(queue).getJob(id);
            await job?.moveToWait(token);
          } catch (err) {
            logger.warn({ err, queue, jobId: id }, 'job.hand_back_failed');
          }
        }
        clearInterval(recovery);
        for (const close of closers) await close();
        await queues.close();
        return { handedBack };
      })();
      return closing;
    },
  };
}
