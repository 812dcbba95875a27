import { randomUUID } from 'node:crypto';
import type { JobsOptions, Queue } from 'bullmq';
import type { Logger } from 'pino';
import { BacklogGuard, type BacklogOptions } from './backlog.ts';
import type { RedisClient } from './connection.ts';
import type { EventName, EventPayloadInput, JobDefinition, JobName, PayloadInput, Registry } from './define.ts';
import type { Envelope, JobMeta } from './envelope.ts';
import { JobPayloadInvalidError, JobUnknownError, QueueFullError, QueueUnavailableError } from './errors.ts';
import { frameworkKeys, jobIdFor } from './keys.ts';
import type { JobMetrics } from './metrics.ts';
import { QueueSet } from './queues.ts';

export interface EnqueueOptions {
  /** Run no earlier than this many ms from now. */
  delay?: number;
  /** 1 (highest) to 2,097,152; lower runs first. Unset: FIFO. */
  priority?: number;
  /** Overrides the key the job definition derives from the payload. */
  idempotencyKey?: string;
  /** Carried into the job's logs. */
  requestId?: string;
}

export interface EnqueueResult {
  jobId: string;
  queue: string;
  name: string;
  /** True when the same work was already enqueued: the answer names the first job and nothing was added. */
  deduplicated: boolean;
}

export interface PublishResult {
  eventId: string;
  jobs: EnqueueResult[];
  /** True when this event id was published before: nothing new was enqueued. */
  deduplicated: boolean;
}

export interface ProducerOptions {
  /** A connection made with `createRedisConnection(..., 'producer')`; the producer does not close it. */
  connection: RedisClient;
  /** Key prefix (`BULLPEN_PREFIX`). */
  prefix: string;
  /** Back-pressure: the largest backlog per queue. Default: no cap. */
  maxBacklog?: BacklogOptions['cap'];
  backlogRefreshMs?: number;
  metrics?: JobMetrics;
  logger?: Logger;
}

export interface BulkItem<R extends Registry, N extends JobName<R> = JobName<R>> {
  name: N;
  payload: PayloadInput<R, N>;
  opts?: EnqueueOptions;
}

export interface Producer<R extends Registry> {
  enqueue<N extends JobName<R>>(name: N, payload: PayloadInput<R, N>, opts?: EnqueueOptions): Promise<EnqueueResult>;
  /** Validates every item first: one bad payload refuses the whole batch and nothing is enqueued. */
  enqueueBulk(items: readonly BulkItem<R>[]): Promise<EnqueueResult[]>;
  /** Enqueues one job per subscriber of the event, all or none (see `resumePendingEvents`). */
  publish<N extends EventName<R>>(
    name: N,
    payload: EventPayloadInput<R, N>,
    opts?: { eventId?: string; requestId?: string },
  ): Promise<PublishResult>;
  /**
   * Throws `QueueFullError` when the job's queue has no room, reserving nothing: lets a caller refuse
   * early (before receiving an upload, say). `enqueue` checks again.
   */
  assertRoom(name: JobName<R>): Promise<void>;
  /** Finishes publishes that a crash interrupted (events recorded but not all jobs enqueued). */
  resumePendingEvents(olderThanMs?: number): Promise<number>;
  /** The BullMQ queue behind a registry queue name. */
  queue(name: string): Queue;
  readonly queues: QueueSet;
  close(): Promise<void>;
}

interface Prepared {
  def: JobDefinition;
  queue: Queue;
  /** Derived from the idempotency key; keyless work takes BullMQ's own id (cheaper to add). */
  jobId?: string;
  data: Envelope;
  opts: JobsOptions;
}

/** Creates a producer: typed enqueue by job name, validated before anything touches Redis. */
export function createProducer<R extends Registry>(registry: R, options: ProducerOptions): Producer<R> {
  const queues = new QueueSet(options.connection, options.prefix);
  const guard = new BacklogGuard({
    cap: options.maxBacklog ?? Number.POSITIVE_INFINITY,
    refreshMs: options.backlogRefreshMs,
  });
  const keys = frameworkKeys(options.prefix);
  const { metrics } = options;
  const client = options.connection;
  const jobs = registry.jobs as Record<string, JobDefinition>;

  function prepare(name: string, payload: unknown, opts: EnqueueOptions = {}, extraMeta: JobMeta = {}): Prepared {
    const def = jobs[name];
    if (!def) throw new JobUnknownError(name);
    const parsed = def.payload.safeParse(payload);
    if (!parsed.success) {
      metrics?.refused.inc({ queue: def.queue, job: name, code: 'JOB_PAYLOAD_INVALID' });
      throw new JobPayloadInvalidError(name, parsed.error.issues);
    }
    const key = opts.idempotencyKey ?? def.idempotencyKey?.(parsed.data);
    const jobId = key !== undefined ? jobIdFor(name, key) : undefined;
    const meta: JobMeta = { ...extraMeta };
    if (key !== undefined) meta.key = key;
    if (opts.requestId) meta.requestId = opts.requestId;
    return {
      def,
      queue: queues.get(def.queue),
      jobId,
      // The parsed payload: defaults applied, unknown keys stripped, as the handler will see it.
      data: { payload: parsed.data, meta },
      opts: {
        ...(jobId ? { jobId } : {}),
        attempts: def.attempts,
        backoff: def.backoff,
        // Every attempt's stack is kept, for the dead letter.
        stackTraceLimit: def.attempts + 1,
        removeOnComplete: { age: def.keepCompletedSeconds },
        removeOnFail: { age: def.keepFailedSeconds },
        ...(opts.delay ? { delay: opts.delay } : {}),
        ...(opts.priority ? { priority: opts.priority } : {}),
      },
    };
  }

  const jobKey = (p: Prepared) => `${options.prefix}:${p.def.queue}:${p.jobId}`;

  function refused(p: { def: JobDefinition }, err: unknown): never {
    const code = err instanceof QueueFullError ? 'QUEUE_FULL' : 'QUEUE_UNAVAILABLE';
    metrics?.refused.inc({ queue: p.def.queue, job: p.def.name, code });
    if (err instanceof QueueFullError) throw err;
    throw new QueueUnavailableError(p.def.queue, err);
  }

  /** Metric children per job, so the hot path does no label lookups. */
  const counters = new Map<
    string,
    {
      enqueued?: ReturnType<JobMetrics['enqueued']['labels']>;
      deduplicated?: ReturnType<JobMetrics['deduplicated']['labels']>;
      seconds?: ReturnType<JobMetrics['enqueueSeconds']['labels']>;
    }
  >();
  const countersOf = (def: JobDefinition) => {
    let c = counters.get(def.name);
    if (!c) {
      const labels = [def.queue, def.name] as const;
      c = {
        enqueued: metrics?.enqueued.labels(...labels),
        deduplicated: metrics?.deduplicated.labels(...labels),
        seconds: metrics?.enqueueSeconds.labels(...labels),
      };
      counters.set(def.name, c);
    }
    return c;
  };

  /**
   * Keyed adds under way in this producer. A second enqueue of the same key while the first is in flight
   * would see no job yet (its EXISTS travels before the first add lands): it waits for the first instead
   * and says `deduplicated`. Across producers the same race remains (BullMQ still adds the job once).
   */
  const inflightKeys = new Map<string, Promise<EnqueueResult>>();

  function add(p: Prepared): Promise<EnqueueResult> {
    if (p.jobId === undefined) return addOne(p);
    const k = jobKey(p);
    const first = inflightKeys.get(k);
    if (first) {
      const dedup = (r: EnqueueResult) => {
        countersOf(p.def).deduplicated?.inc();
        return { ...r, deduplicated: true };
      };
      // The first failed: this one tries on its own.
      return first.then(dedup, () => add(p));
    }
    const running = addOne(p).finally(() => inflightKeys.delete(k));
    inflightKeys.set(k, running);
    return running;
  }

  async function addOne(p: Prepared): Promise<EnqueueResult> {
    const started = performance.now();
    const m = countersOf(p.def);
    try {
      const admitted = guard.admit(p.queue);
      if (admitted) await admitted;
    } catch (err) {
      refused(p, err);
    }
    try {
      // Sent before the add on the same connection, so it travels in the same round trip: it says whether
      // the id existed before this add (then BullMQ keeps the first job and adds nothing).
      const existed = p.jobId !== undefined ? client.exists(jobKey(p)) : 0;
      const [was, job] = await Promise.all([existed, p.queue.add(p.def.name, p.data, p.opts)]);
      const deduplicated = was === 1;
      if (deduplicated) {
        guard.release(p.def.queue);
        m.deduplicated?.inc();
      } else {
        guard.settle(p.def.queue);
        m.enqueued?.inc();
      }
      m.seconds?.observe((performance.now() - started) / 1000);
      return { jobId: p.jobId ?? job.id!, queue: p.def.queue, name: p.def.name, deduplicated };
    } catch (err) {
      guard.release(p.def.queue);
      refused(p, err);
    }
  }

  async function addMany(prepared: Prepared[]): Promise<EnqueueResult[]> {
    const byQueue = new Map<Queue, Prepared[]>();
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
      refused(prepared[0]!, err);
    }
    const results: EnqueueResult[] = [];
    const landed = new Set<Queue>();
    try {
      for (const [q, list] of byQueue) {
        // Which keyed ids existed before the add, in the same round trip (see add()).
        const keyed = list.filter((p) => p.jobId !== undefined);
        const pipe = keyed.length ? client.pipeline() : undefined;
        for (const p of keyed) pipe!.exists(jobKey(p));
        const [existed, jobs] = await Promise.all([
          pipe?.exec(),
          q.addBulk(list.map((p) => ({ name: p.def.name, data: p.data, opts: p.opts }))),
        ]);
        landed.add(q);
        // Existing before the batch, or repeated within it: BullMQ keeps one job per id.
        const seen = new Set(keyed.filter((_, i) => existed?.[i]?.[1] === 1).map((p) => p.jobId));
        list.forEach((p, i) => {
          const deduplicated = p.jobId !== undefined && seen.has(p.jobId);
          if (p.jobId !== undefined) seen.add(p.jobId);
          const m = countersOf(p.def);
          (deduplicated ? m.deduplicated : m.enqueued)?.inc();
          if (deduplicated) guard.release(q.name);
          else guard.settle(q.name);
          results.push({ jobId: p.jobId ?? jobs[i]!.id!, queue: p.def.queue, name: p.def.name, deduplicated });
        });
      }
    } catch (err) {
      for (const [q, n] of admitted) if (!landed.has(q)) guard.release(q.name, n);
      refused(prepared[0]!, err);
    }
    return results;
  }

  const producer: Producer<R> = {
    queues,
    queue: (name) => queues.get(name),

    async assertRoom(name) {
      const def = jobs[name];
      if (!def) throw new JobUnknownError(name);
      try {
        await guard.assertRoom(queues.get(def.queue));
      } catch (err) {
        refused({ def }, err);
      }
    },

    enqueue(name, payload, opts) {
      let p: Prepared;
      try {
        p = prepare(name, payload, opts);
      } catch (err) {
        return Promise.reject(err);
      }
      return add(p);
    },

    async enqueueBulk(items) {
      if (items.length === 0) return [];
      const prepared = items.map((i) => prepare(i.name, i.payload, i.opts));
      return addMany(prepared);
    },

    async publish(name, payload, opts = {}) {
      const event = (registry.events as Record<string, Registry['events'][string]>)[name];
      if (!event) throw new JobUnknownError(name, 'event');
      const parsed = event.payload.safeParse(payload);
      if (!parsed.success) throw new JobPayloadInvalidError(name, parsed.error.issues);
      const eventId = opts.eventId ?? event.idempotencyKey?.(parsed.data) ?? randomUUID();
      // Every subscriber payload is checked before anything is written: all or none.
      const prepared = event.subscribers.map((s) =>
        prepare(
          s.job.name,
          s.map ? s.map(parsed.data) : parsed.data,
          { idempotencyKey: `evt-${eventId}`, requestId: opts.requestId },
          { eventId },
        ),
      );
      const key = keys.event(eventId);
      // Record the event first; a crash after this leaves it pending, and resumePendingEvents finishes it.
      const record = JSON.stringify({ name, payload: parsed.data, requestId: opts.requestId });
      const created = await client.hsetnx(key, 'record', record);
      if (!created && (await client.hget(key, 'status')) === 'done') {
        return {
          eventId,
          deduplicated: true,
          jobs: prepared.map((p) => ({ jobId: p.jobId!, queue: p.def.queue, name: p.def.name, deduplicated: true })),
        };
      }
      // NX: a resumed publish keeps the time the event was first recorded.
      await client.zadd(keys.pendingEvents, 'NX', Date.now(), eventId);
      let results: EnqueueResult[];
      try {
        results = await addMany(prepared);
      } catch (err) {
        // A first publish refused at admission added nothing: forget the event. A resumed one (the record
        // was there before) stays pending, so a later recovery finishes it.
        if (err instanceof QueueFullError && created) {
          await client.del(key);
          await client.zrem(keys.pendingEvents, eventId);
        }
        throw err;
      }
      await client
        .multi()
        .hset(key, 'status', 'done')
        .expire(key, 7 * 24 * 3600)
        .exec();
      await client.zrem(keys.pendingEvents, eventId);
      return { eventId, jobs: results, deduplicated: false };
    },

    async resumePendingEvents(olderThanMs = 30_000) {
      const ids = await client.zrangebyscore(keys.pendingEvents, '-inf', Date.now() - olderThanMs, 'LIMIT', 0, 100);
      let resumed = 0;
      for (const eventId of ids) {
        const raw = await client.hget(keys.event(eventId), 'record');
        if (!raw) {
          await client.zrem(keys.pendingEvents, eventId);
          continue;
        }
        const rec = JSON.parse(raw) as { name: string; payload: unknown; requestId?: string };
        try {
          // publish() goes on from the recorded event: it is not done, so every subscriber job is (re)added.
          await producer.publish(rec.name as EventName<R>, rec.payload as never, { eventId, requestId: rec.requestId });
          resumed++;
        } catch (err) {
          options.logger?.warn({ err, eventId }, 'event.resume_failed');
        }
      }
      return resumed;
    },

    async close() {
      await queues.close();
    },
  };
  return producer;
}
