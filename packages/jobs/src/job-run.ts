import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { Expiring } from './deadlines.ts';
import { type JobMeta, ledgerIdFor } from './envelope.ts';
import { JobTimeoutError } from './errors.ts';
import type { JobLog, JobLogs } from './job-log.ts';
import type { Ledger } from './ledger.ts';

/** What a handler gets besides its payload. */
export interface JobContext {
  /**
   * pino child bound to `{ queue, job, jobId, attempt, requestId }`. Its lines at info and above also go to the
   * job's own log (Bull Board's Logs tab) unless the worker turned `jobLogs` off.
   */
  readonly log: Logger;
  /** 1 for the first try. */
  readonly attempt: number;
  /** Aborts when the job times out, is cancelled, or the worker shuts down past its grace period. */
  readonly signal: AbortSignal;
  /** Reports progress (0-100, or an object) to the queue. */
  progress(value: number | object): Promise<void>;
  /**
   * Runs `fn` once per unit of work: its JSON result is stored under the job's idempotency key, and a
   * redelivered or replayed job gets the stored result instead of running `fn` again.
   */
  step<T>(name: string, fn: () => Promise<T> | T): Promise<T>;
  readonly job: {
    id: string;
    name: string;
    queue: string;
    idempotencyKey?: string;
    requestId?: string;
    replayOf?: string;
    /** The schedule that enqueued this run, if one did. */
    schedule?: string;
  };
}

export type Handler<P = unknown, Result = unknown> = (payload: P, ctx: JobContext) => Promise<Result> | Result;

/**
 * One attempt of one job: the handler's context, its deadline and its abort. Built once per job with nothing
 * the handler does not use: the child logger, the AbortController and the bound methods are made on first
 * access (so `const { step } = ctx` works too), and the deadline is watched by the worker's one sweeper.
 */
export class JobRun implements JobContext, Expiring {
  readonly attempt: number;
  readonly deadline: number;
  private controller: AbortController | undefined;
  private abortReason: Error | undefined;
  private rejectRun: ((err: Error) => void) | undefined;
  private childLog: Logger | undefined;
  private logSink: JobLog | undefined;
  private info: JobContext['job'] | undefined;
  private boundStep: JobContext['step'] | undefined;
  private boundProgress: JobContext['progress'] | undefined;
  /** The steps running now, and the last step that threw (with its error): where an attempt failed. */
  private running: Set<string> | undefined;
  private thrownIn: { step: string; err: unknown } | undefined;

  constructor(
    readonly bullJob: Job,
    private readonly meta: JobMeta,
    private readonly baseLog: Logger,
    private readonly timeoutMs: number,
    private readonly ledger: Ledger,
    /** The steps already done, when the ledger was read (a keyed or redelivered job). */
    private steps: Map<string, unknown> | undefined,
    /** Where the handler's log lines are also kept; none: stdout only. */
    private readonly jobLogs?: JobLogs,
  ) {
    this.attempt = bullJob.attemptsMade + 1;
    this.deadline = Date.now() + timeoutMs;
  }

  get log(): Logger {
    if (!this.childLog) {
      this.childLog = this.baseLog.child({
        queue: this.bullJob.queueName,
        job: this.bullJob.name,
        jobId: this.bullJob.id,
        attempt: this.attempt,
        ...(this.meta.requestId ? { requestId: this.meta.requestId } : {}),
      });
      this.logSink = this.jobLogs?.attach(this.childLog, this.bullJob);
    }
    return this.childLog;
  }

  /** Writes the attempt's pending log lines to the job's log; undefined when the handler logged nothing. */
  flushLogs(): Promise<void> | undefined {
    return this.logSink?.flush();
  }

  /** The attempt's last log lines (for its dead letter), when it logged any. */
  lastLogLines(): string[] | undefined {
    const lines = this.logSink?.lastLines();
    return lines?.length ? lines : undefined;
  }

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.abortReason && !this.controller.signal.aborted) this.controller.abort(this.abortReason);
    return this.controller.signal;
  }

  get job(): JobContext['job'] {
    const { bullJob: j, meta } = this;
    this.info ??= {
      id: j.id!,
      name: j.name,
      queue: j.queueName,
      ...(meta.key ? { idempotencyKey: meta.key } : {}),
      ...(meta.requestId ? { requestId: meta.requestId } : {}),
      ...(meta.replayOf ? { replayOf: meta.replayOf } : {}),
      ...(meta.schedule ? { schedule: meta.schedule } : {}),
    };
    return this.info;
  }

  get step(): JobContext['step'] {
    this.boundStep ??= this.runStep.bind(this) as JobContext['step'];
    return this.boundStep;
  }

  get progress(): JobContext['progress'] {
    this.boundProgress ??= (value) => this.bullJob.updateProgress(value);
    return this.boundProgress;
  }

  /** Why the run was aborted, if it was. */
  get aborted(): Error | undefined {
    return this.abortReason;
  }

  /** Runs the handler; settles with its result, or with the abort reason as soon as the run is aborted. */
  run<P>(handler: Handler<P>, payload: P): Promise<unknown> {
    // Aborted before it started (a cancel that raced the fetch): the handler never runs.
    if (this.abortReason) return Promise.reject(this.abortReason);
    return new Promise((resolve, reject) => {
      this.rejectRun = reject;
      try {
        Promise.resolve(handler(payload, this)).then(resolve, reject);
      } catch (err) {
        reject(err);
      }
    });
  }

  /** Aborts the handler's signal and settles the run with `reason` (the first reason wins). */
  abort(reason: Error): void {
    if (this.abortReason) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
    this.rejectRun?.(reason);
  }

  /** The deadline passed (called by the sweeper). */
  expire(): void {
    this.abort(new JobTimeoutError(this.timeoutMs));
  }

  /** Where this job's steps are stored. */
  get ledgerId(): string {
    const j = this.bullJob;
    return ledgerIdFor(j.name, j.queueName, j.id!, this.meta);
  }

  private async runStep<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
    this.steps ??= new Map();
    const { steps } = this;
    if (steps.has(name)) {
      this.log.debug({ step: name }, 'job.step_skipped');
      return steps.get(name) as T;
    }
    if (this.abortReason) throw this.abortReason;
    this.running ??= new Set();
    this.running.add(name);
    try {
      const result = await fn();
      await this.ledger.saveStep(this.ledgerId, name, result);
      steps.set(name, result);
      return result;
    } catch (err) {
      this.thrownIn = { step: name, err };
      throw err;
    } finally {
      this.running.delete(name);
    }
  }

  /** The step the handler failed in: the one that threw `err` (or what `err` wraps), else one still running. */
  failedStep(err: Error): string | undefined {
    const t = this.thrownIn;
    if (t && (t.err === err || (err.cause !== undefined && err.cause === t.err))) return t.step;
    return this.running?.values().next().value;
  }
}
