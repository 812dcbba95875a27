import type { Queue, Telemetry } from 'bullmq';
import type { Logger } from 'pino';
import { BacklogGuard, type BacklogOptions } from './backlog.ts';
import type { RedisClient } from './connection.ts';
import type { EventName, EventPayloadInput, JobDefinition, JobName, PayloadInput, Registry } from './define.ts';
import { type EnqueueOptions, type EnqueueResult, Enqueuer } from './enqueuer.ts';
import { JobUnknownError } from './errors.ts';
import { EventPublisher, type PublishResult } from './events.ts';
import type { JobMetrics } from './metrics.ts';
import { QueueSet } from './queues.ts';

export type { EnqueueOptions, EnqueueResult } from './enqueuer.ts';
export type { PublishResult } from './events.ts';

export interface ProducerOptions {
  /** A connection made with `createRedisConnection(..., 'producer')`; the producer does not close it. */
  connection: RedisClient;
  /** Key prefix (`BULLPEN_PREFIX`). */
  prefix: string;
  /** Back-pressure: the largest backlog per queue. Default: no cap. */
  maxBacklog?: BacklogOptions['cap'];
  /** How old a cached backlog count may get before it is read again, in ms. Default 250. */
  backlogRefreshMs?: number;
  metrics?: JobMetrics;
  logger?: Logger;
  /**
   * BullMQ's telemetry (e.g. `new BullMQOtel(...)` from `bullmq-otel`), given to every queue this producer
   * adds to: each add is a span, and the job carries its context to the worker. Default: none (nothing traced).
   */
  telemetry?: Telemetry;
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

/** Creates a producer: typed enqueue by job name, validated before anything touches Redis. */
export function createProducer<R extends Registry>(registry: R, options: ProducerOptions): Producer<R> {
  const queues = new QueueSet(options.connection, options.prefix, options.telemetry);
  const guard = new BacklogGuard({
    cap: options.maxBacklog ?? Number.POSITIVE_INFINITY,
    refreshMs: options.backlogRefreshMs,
  });
  const jobs = registry.jobs as Record<string, JobDefinition>;
  const enqueuer = new Enqueuer({
    jobs,
    queues,
    guard,
    client: options.connection,
    prefix: options.prefix,
    metrics: options.metrics,
  });
  const events = new EventPublisher(registry.events, enqueuer, options.connection, options.prefix, options.logger);

  return {
    queues,
    queue: (name) => queues.get(name),

    async assertRoom(name) {
      const def = jobs[name];
      if (!def) throw new JobUnknownError(name);
      try {
        await guard.assertRoom(queues.get(def.queue));
      } catch (err) {
        enqueuer.refused(def, err);
      }
    },

    enqueue(name, payload, opts) {
      try {
        return enqueuer.add(enqueuer.prepare(name, payload, opts));
      } catch (err) {
        return Promise.reject(err);
      }
    },

    async enqueueBulk(items) {
      if (items.length === 0) return [];
      return enqueuer.addMany(items.map((i) => enqueuer.prepare(i.name, i.payload, i.opts)));
    },

    publish: (name, payload, opts) => events.publish(name, payload, opts),
    resumePendingEvents: (olderThanMs) => events.resumePending(olderThanMs),

    async close() {
      await queues.close();
    },
  };
}
