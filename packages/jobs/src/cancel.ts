import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { closeRedis, type RedisClient } from './connection.ts';
import { JobCancelledError } from './errors.ts';
import type { JobRun } from './job-run.ts';
import { frameworkKeys } from './keys.ts';
import type { QueueSet } from './queues.ts';

/** What a job's `onCancel` hook is told: the job, its payload as queued, and who cancelled it. */
export interface CancelledJob<P = unknown> {
  jobId: string;
  queue: string;
  name: string;
  /** The payload as it was queued (of the version it was enqueued under). */
  payload: P;
  actor?: string;
}

export type CancelHook = (cancelled: CancelledJob<never>) => Promise<void> | void;

/** What `admin.cancel` did to one id. */
export type CancelStatus =
  /** It was waiting, delayed or prioritized (or its worker was dead): removed from the queue. */
  | 'removed'
  /** It was running: its worker (whichever process) was told to abort it. */
  | 'signalled'
  | 'not-found'
  /** Completed or failed before the cancel. */
  | 'already-finished'
  /** The id names jobs in several queues: say which with `queue`. Nothing was done. */
  | 'ambiguous';

export interface CancelOutcome {
  id: string;
  status: CancelStatus;
  queue?: string;
  name?: string;
  /**
   * The job's state once the cancel is done: `cancelled` once a signalled job has stopped (with `waitMs`), else
   * what BullMQ says (`active` while it is still stopping, `completed` or `failed` for one that finished first).
   */
  state?: string;
}

export interface CancelReport {
  /** Removed or signalled. */
  cancelled: number;
  outcomes: CancelOutcome[];
}

/** How long a cancel marker lives: long enough for a dead holder's lock to expire and the job to be redelivered. */
export const CANCEL_MARKER_TTL_MS = 10 * 60_000;
/** How long a worker remembers a cancel for a job it has not started yet (one it was fetching as the cancel came). */
const PENDING_MS = 30_000;
const PENDING_MAX = 10_000;

interface CancelMessage {
  queue: string;
  id: string;
  actor?: string;
}

const refOf = (queue: string, id: string) => `${queue}\u0000${id}`;

/**
 * A worker's end of cancellation: one subscriber connection (`connection.duplicate()`) on the prefix's cancel
 * channel. A cancel for a job running here aborts its run (the handler's `ctx.signal` fires, the job fails with
 * `JOB_CANCELLED`, no retry, no letter). A cancel for a job of a served queue not running here is remembered for
 * 30 s, for the job this worker was just fetching. A redelivered job (its worker died) checks the Redis marker.
 */
export class CancelListener {
  private readonly pending = new Map<string, { actor?: string; until: number }>();
  private readonly keys: ReturnType<typeof frameworkKeys>;
  private sub: RedisClient | undefined;

  constructor(
    private readonly connection: RedisClient,
    prefix: string,
    private readonly served: ReadonlySet<string>,
    private readonly active: ReadonlyMap<Job, JobRun>,
    private readonly logger: Logger,
  ) {
    this.keys = frameworkKeys(prefix);
  }

  /** Subscribes; resolves once Redis confirmed it. */
  async start(): Promise<void> {
    // The worker connection's own settings (retry forever, its credentials, cluster nodes).
    const sub: RedisClient = (this.connection as { duplicate(): RedisClient }).duplicate();
    this.sub = sub;
    sub.on('error', (err: Error) => this.logger.warn({ err }, 'cancel.subscriber_error'));
    sub.on('message', (_channel: string, message: string) => this.onMessage(message));
    await sub.subscribe(this.keys.cancelChannel);
  }

  async close(): Promise<void> {
    this.pending.clear();
    if (this.sub) await closeRedis(this.sub);
    this.sub = undefined;
  }

  /** Aborts a run whose cancel arrived before it was registered. Costs a size check when nothing is pending. */
  abortIfPending(job: Job, run: JobRun): void {
    if (this.pending.size === 0) return;
    const ref = refOf(job.queueName, job.id!);
    const p = this.pending.get(ref);
    if (!p) return;
    this.pending.delete(ref);
    if (p.until >= Date.now()) run.abort(new JobCancelledError(p.actor));
  }

  /** The cancel of a redelivered job, from its marker (one GET; the processor sends it with the ledger read). */
  async markerOf(job: Job): Promise<JobCancelledError | undefined> {
    const raw = await this.connection.get(this.keys.cancelMarker(job.queueName, job.id!));
    if (raw === null) return undefined;
    return new JobCancelledError(parseMessage(raw)?.actor);
  }

  private onMessage(raw: string): void {
    const msg = parseMessage(raw);
    if (!msg || !this.served.has(msg.queue)) return;
    for (const [job, run] of this.active) {
      if (job.queueName === msg.queue && job.id === msg.id) {
        run.log.info({ actor: msg.actor }, 'job.cancel_received');
        run.abort(new JobCancelledError(msg.actor));
        return;
      }
    }
    if (this.pending.size >= PENDING_MAX) this.prune();
    this.pending.set(refOf(msg.queue, msg.id), {
      ...(msg.actor ? { actor: msg.actor } : {}),
      until: Date.now() + PENDING_MS,
    });
  }

  private prune(): void {
    const now = Date.now();
    for (const [ref, p] of this.pending) if (p.until < now) this.pending.delete(ref);
    // Still full: the oldest go.
    for (const ref of this.pending.keys()) {
      if (this.pending.size < PENDING_MAX / 2) break;
      this.pending.delete(ref);
    }
  }
}

function parseMessage(raw: string): CancelMessage | undefined {
  try {
    const m = JSON.parse(raw) as Partial<CancelMessage>;
    return typeof m.queue === 'string' && typeof m.id === 'string' ? (m as CancelMessage) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a failed job failed because it was cancelled (its last error is a `JobCancelledError`). */
export function isCancelledJob(job: Pick<Job, 'stacktrace' | 'failedReason'>): boolean {
  const last = job.stacktrace?.at(-1);
  return typeof last === 'string' ? last.startsWith(`${JobCancelledError.name}:`) : false;
}

/** A job's state as Bullpen shows it: BullMQ's, with `cancelled` for a job failed by a cancel. */
export async function jobStateOf(job: Job, queues?: QueueSet): Promise<string> {
  const state = await job.getState();
  if (state !== 'failed') return state;
  // Read before it failed (its failure is not in this copy): read it again.
  const failed = job.failedReason || !queues ? job : await queues.get(job.queueName).getJob(job.id!);
  return failed && isCancelledJob(failed) ? 'cancelled' : state;
}

export interface CancelDeps {
  queues: QueueSet;
  client: RedisClient;
  prefix: string;
  /** The queues an id is looked for in when no queue is given. */
  queueNames: readonly string[];
}

const FINISHED = new Set(['completed', 'failed']);

/**
 * Cancels one job wherever it is. A job not running is removed (BullMQ refuses while a live worker holds its
 * lock). A running one gets a marker (for a worker that picks it up later: its holder died, or it was being
 * fetched) and a message on the cancel channel, which its worker, in any process, turns into an abort. With
 * `waitMs`, waits up to that long for a signalled job to stop and reports its final state.
 */
export async function cancelJob(
  deps: CancelDeps,
  id: string,
  opts: { actor: string; queue?: string; waitMs?: number },
): Promise<CancelOutcome> {
  const found: Job[] = [];
  for (const q of opts.queue ? [opts.queue] : deps.queueNames) {
    const job = await deps.queues.get(q).getJob(id);
    if (job) found.push(job);
  }
  if (found.length === 0) return { id, status: 'not-found' };
  if (found.length > 1) return { id, status: 'ambiguous' };
  const job = found[0]!;
  const base = { id, queue: job.queueName, name: job.name };
  const state = await job.getState();
  if (FINISHED.has(state)) return { ...base, status: 'already-finished', state: await jobStateOf(job, deps.queues) };
  if (state !== 'active') {
    try {
      await job.remove();
      return { ...base, status: 'removed' };
    } catch {
      // Taken by a worker meanwhile: cancel it running.
    }
  } else {
    // A running job whose worker died holds no lock: nothing runs it, so it can go at once.
    const removed = await job.remove().then(
      () => true,
      () => false,
    );
    if (removed) return { ...base, status: 'removed' };
  }
  const keys = frameworkKeys(deps.prefix);
  const message = JSON.stringify({ queue: job.queueName, id, actor: opts.actor } satisfies CancelMessage);
  // The marker first: a worker that misses the message (fetching the job, or redelivering it) still finds it.
  await deps.client.set(keys.cancelMarker(job.queueName, id), message, 'PX', CANCEL_MARKER_TTL_MS);
  await deps.client.publish(keys.cancelChannel, message);
  const after = await waitUntilStopped(deps, job, opts.waitMs ?? 0);
  return { ...base, status: 'signalled', state: after };
}

async function waitUntilStopped(deps: CancelDeps, job: Job, waitMs: number): Promise<string> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const fresh = await deps.queues.get(job.queueName).getJob(job.id!);
    if (!fresh) return 'removed';
    const state = await jobStateOf(fresh, deps.queues);
    if (state !== 'active' || Date.now() >= deadline) return state;
    await new Promise((r) => setTimeout(r, 50));
  }
}
