import type { JobsOptions, Queue } from 'bullmq';
import type { BacklogGuard } from './backlog.ts';
import type { RedisClient } from './connection.ts';
import { deduplicationFor } from './deduplicate.ts';
import type { JobDefinition } from './define.ts';
import type { Envelope, JobMeta } from './envelope.ts';
import {
  JobErrorCode,
  JobPayloadInvalidError,
  JobUnknownError,
  QueueFullError,
  QueueUnavailableError,
} from './errors.ts';
import { jobOptions } from './job-options.ts';
import { jobIdFor } from './keys.ts';
import type { JobMetrics } from './metrics.ts';
import type { QueueSet } from './queues.ts';

export interface EnqueueOptions {
  /** Run no earlier than this many ms from now (a non-negative integer). Default 0: at once. */
  delay?: number;
  /**
   * 1 (highest) to 2,097,151; lower runs first, FIFO among equals. Unset (the default): FIFO, and before every
   * prioritized job of the queue (BullMQ takes its wait list first).
   */
  priority?: number;
  /** Overrides the key the job definition derives from the payload. */
  idempotencyKey?: string;
  /** Carried into the job's logs. */
  requestId?: string;
  /**
   * The idempotency key was made just now (a new upload id, say), so no job can have it yet: the enqueue is
   * one command, without the check that tells a duplicate, and says `deduplicated: false`. BullMQ still adds
   * one job per id, so a wrong claim never duplicates work; it only makes the answer wrong. Default false.
   */
  newKey?: boolean;
}

export interface EnqueueResult {
  jobId: string;
  queue: string;
  name: string;
  /** True when the same work was already enqueued: the answer names the first job and nothing was added. */
  deduplicated: boolean;
}

/** A job checked and ready to add: its definition, queue, id, data and BullMQ options. */
export interface PreparedJob {
  def: JobDefinition;
  queue: Queue;
  /** Derived from the idempotency key; keyless work takes BullMQ's own id (cheaper to add). */
  jobId?: string;
  /** Whether to ask Redis if the id existed (keyed work not claimed `newKey`). */
  checkExisting: boolean;
  /** The deduplication id of a keyless job with a `deduplicate` window. */
  dedupId?: string;
  data: Envelope;
  opts: JobsOptions;
}

export interface EnqueuerDeps {
  jobs: Readonly<Record<string, JobDefinition>>;
  queues: QueueSet;
  guard: BacklogGuard;
  client: RedisClient;
  prefix: string;
  metrics?: JobMetrics | undefined;
}

const PRIORITY_MAX = 2 ** 21 - 1;

/** Refuses a delay or priority BullMQ would refuse (or misread) before anything is sent. */
function checkEnqueueOptions(name: string, opts: EnqueueOptions): void {
  const { delay, priority } = opts;
  if (delay !== undefined && !(Number.isInteger(delay) && delay >= 0)) {
    throw new RangeError(`${name}: delay must be a non-negative integer of ms, not ${delay}`);
  }
  if (priority !== undefined && !(Number.isInteger(priority) && priority >= 1 && priority <= PRIORITY_MAX)) {
    throw new RangeError(`${name}: priority must be an integer from 1 to ${PRIORITY_MAX}, not ${priority}`);
  }
}

/**
 * Validates and adds jobs: the core of a producer, and all that event recovery needs. Payloads are parsed
 * before anything touches Redis; the backlog cap admits each add; a keyed add says whether the work was there.
 */
export class Enqueuer {
  /**
   * Keyed adds under way here. A second enqueue of the same key while the first is in flight would see no
   * job yet (its EXISTS travels before the first add lands): it waits for the first and says `deduplicated`.
   * Across producers the same race remains (BullMQ still adds the job once).
   */
  private readonly inflightKeys = new Map<string, Promise<EnqueueResult>>();

  constructor(private readonly deps: EnqueuerDeps) {}

  /** Parses the payload and derives the job's id, data and options; throws before anything is sent. */
  prepare(name: string, payload: unknown, opts: EnqueueOptions = {}, extraMeta: JobMeta = {}): PreparedJob {
    const def = this.deps.jobs[name];
    if (!def) throw new JobUnknownError(name);
    if (opts.delay !== undefined || opts.priority !== undefined) checkEnqueueOptions(name, opts);
    const parsed = def.payload.safeParse(payload);
    if (!parsed.success) {
      this.deps.metrics?.refused.labels(def.queue, name, JobErrorCode.JOB_PAYLOAD_INVALID).inc();
      throw new JobPayloadInvalidError(name, parsed.error.issues);
    }
    const key = opts.idempotencyKey ?? def.idempotencyKey?.(parsed.data);
    const jobId = key !== undefined ? jobIdFor(name, key) : undefined;
    const meta: JobMeta = { ...extraMeta };
    if (key !== undefined) meta.key = key;
    if (opts.requestId) meta.requestId = opts.requestId;
    // Absent means 1, so version-1 jobs carry nothing more.
    if (def.version !== 1) meta.v = def.version;
    const deduplication = def.deduplicate && key === undefined ? deduplicationFor(def, parsed.data) : undefined;
    // A debounced job waits out its window unless the enqueue says otherwise.
    const delay = opts.delay ?? (deduplication?.replace ? deduplication.ttl : undefined);
    const prepared: PreparedJob = {
      def,
      queue: this.deps.queues.get(def.queue),
      jobId,
      checkExisting: jobId !== undefined && !opts.newKey,
      // The parsed payload: defaults applied, unknown keys stripped, as the handler will see it.
      data: { payload: parsed.data, meta },
      opts: jobOptions(def, { jobId, delay, priority: opts.priority, deduplication }),
    };
    if (deduplication) prepared.dedupId = deduplication.id;
    return prepared;
  }

  /**
   * Adds one prepared job (see `inflightKeys` for a key enqueued twice at once). Keyless work and a key claimed
   * `newKey` ask nothing about duplicates, so they skip that bookkeeping.
   */
  add(p: PreparedJob): Promise<EnqueueResult> {
    if (!p.checkExisting) return this.addOne(p);
    const k = this.jobKey(p);
    const first = this.inflightKeys.get(k);
    if (first) {
      const dedup = (r: EnqueueResult) => {
        this.seriesOf(p.def)?.deduplicated.inc();
        return { ...r, deduplicated: true };
      };
      // The first failed: this one tries on its own.
      return first.then(dedup, () => this.add(p));
    }
    const running = this.addOne(p).finally(() => this.inflightKeys.delete(k));
    this.inflightKeys.set(k, running);
    return running;
  }

  /** Adds prepared jobs with one `addBulk` per queue, admitting each queue's share first. */
  async addMany(prepared: PreparedJob[]): Promise<EnqueueResult[]> {
    const { guard } = this.deps;
    const byQueue = new Map<Queue, PreparedJob[]>();
    for (const p of prepared) {
      const list = byQueue.get(p.queue);
      if (list) list.push(p);
      else byQueue.set(p.queue, [p]);
    }
    const admitted: [Queue, number][] = [];
    try {
      for (const [q, list] of byQueue) {
        const pending = guard.admit(q, list.length);
        if (pending) await pending;
        admitted.push([q, list.length]);
      }
    } catch (err) {
      for (const [q, n] of admitted) guard.release(q.name, n);
      this.refused(prepared[0]!.def, err);
    }
    const results: EnqueueResult[] = [];
    const landed = new Set<Queue>();
    try {
      for (const [q, list] of byQueue) {
        results.push(...(await this.addBulkTo(q, list)));
        landed.add(q);
      }
    } catch (err) {
      for (const [q, n] of admitted) if (!landed.has(q)) guard.release(q.name, n);
      this.refused(prepared[0]!.def, err);
    }
    return results;
  }

  /** Counts the refusal and throws what a caller handles: `QueueFullError` or `QueueUnavailableError`. */
  refused(def: JobDefinition, err: unknown): never {
    const code = err instanceof QueueFullError ? JobErrorCode.QUEUE_FULL : JobErrorCode.QUEUE_UNAVAILABLE;
    this.deps.metrics?.refused.labels(def.queue, def.name, code).inc();
    if (err instanceof QueueFullError) throw err;
    throw new QueueUnavailableError(def.queue, err);
  }

  private jobKey(p: PreparedJob): string {
    return `${this.deps.prefix}:${p.def.queue}:${p.jobId}`;
  }

  /** What makes BullMQ keep an earlier job instead of this one: its id's key, or its window's. */
  private identityKey(p: PreparedJob): string | undefined {
    if (p.jobId !== undefined) return this.jobKey(p);
    if (p.dedupId !== undefined) return `${this.deps.prefix}:${p.def.queue}:de:${p.dedupId}`;
    return undefined;
  }

  /** The key to ask Redis about before an add: none for keyless work and for a key claimed new (`newKey`). */
  private presenceKey(p: PreparedJob): string | undefined {
    return p.checkExisting || p.dedupId !== undefined ? this.identityKey(p) : undefined;
  }

  private seriesOf(def: JobDefinition) {
    return this.deps.metrics?.forJob(def.queue, def.name);
  }

  private async addOne(p: PreparedJob): Promise<EnqueueResult> {
    const started = performance.now();
    const { guard, client } = this.deps;
    try {
      const admitted = guard.admit(p.queue);
      if (admitted) await admitted;
    } catch (err) {
      this.refused(p.def, err);
    }
    try {
      // Sent before the add on the same connection, so it travels in the same round trip: it says whether
      // the id (or the deduplication window) existed before this add (then BullMQ keeps the first job).
      const presence = this.presenceKey(p);
      const existed = presence !== undefined ? client.exists(presence) : undefined;
      const adding = p.queue.add(p.def.name, p.data, p.opts);
      const [was, job] = existed ? await Promise.all([existed, adding]) : [0, await adding];
      const deduplicated = was === 1;
      const series = this.seriesOf(p.def);
      if (deduplicated) {
        guard.release(p.def.queue);
        series?.deduplicated.inc();
      } else {
        guard.settle(p.def.queue);
        series?.enqueued.inc();
      }
      series?.enqueueSeconds.observe((performance.now() - started) / 1000);
      return { jobId: p.jobId ?? job.id!, queue: p.def.queue, name: p.def.name, deduplicated };
    } catch (err) {
      guard.release(p.def.queue);
      this.refused(p.def, err);
    }
  }

  private async addBulkTo(q: Queue, list: PreparedJob[]): Promise<EnqueueResult[]> {
    // Which keyed ids (and windows) existed before the add, in the same round trip (see addOne()).
    const asked = list.map((p) => this.presenceKey(p));
    const watched = asked.filter((k): k is string => k !== undefined);
    const pipe = watched.length ? this.deps.client.pipeline() : undefined;
    for (const k of watched) pipe!.exists(k);
    const [existed, jobs] = await Promise.all([
      pipe?.exec(),
      q.addBulk(list.map((p) => ({ name: p.def.name, data: p.data, opts: p.opts }))),
    ]);
    // Existing before the batch, or repeated within it: BullMQ keeps one job per id (or window).
    const seen = new Set(watched.filter((_, i) => existed?.[i]?.[1] === 1));
    return list.map((p, i) => {
      const k = this.identityKey(p);
      const deduplicated = k !== undefined && seen.has(k);
      if (k !== undefined) seen.add(k);
      const series = this.seriesOf(p.def);
      if (deduplicated) {
        series?.deduplicated.inc();
        this.deps.guard.release(q.name);
      } else {
        series?.enqueued.inc();
        this.deps.guard.settle(q.name);
      }
      return { jobId: p.jobId ?? jobs[i]!.id!, queue: p.def.queue, name: p.def.name, deduplicated };
    });
  }
}
