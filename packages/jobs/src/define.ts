import type { z } from 'zod';
import { checkDeduplicate, type Deduplicate } from './deduplicate.ts';
import { checkKeyConcurrency } from './key-concurrency.ts';
import { checkVersioning, type MigrationStep, type VersionInput } from './payload-versions.ts';
import { checkRateLimit, type RateLimit, rateLimitsByQueue } from './rate-limit.ts';
import type { ScheduleDefinition } from './schedules.ts';

/** How long to wait between attempts. */
export interface Backoff {
  type: 'exponential' | 'fixed';
  /** Delay in ms (exponential: the first delay, doubling each attempt). */
  delay: number;
}

/** A job as the registry knows it. Build one with `defineJob`. */
export interface JobDefinition<N extends string = string, Q extends string = string, S extends z.ZodType = z.ZodType> {
  readonly kind: 'job';
  /** Unique job name, `area.verb` (`image.resize`). */
  readonly name: N;
  /** The queue it runs on (`images`). Several jobs may share one. */
  readonly queue: Q;
  /** zod schema of the payload: checked before enqueue and again before the handler runs. */
  readonly payload: S;
  /** Tries in all, the first included. Default 3. */
  readonly attempts: number;
  /** Default exponential from 1 s. */
  readonly backoff: Backoff;
  /** The handler's deadline per attempt, in ms; past it the attempt fails with `JOB_TIMEOUT`. Default 60 s. */
  readonly timeoutMs: number;
  /**
   * Derives the idempotency key from the payload: the same work gives the same key, so it is enqueued
   * once and its finished steps are never redone. Without it every enqueue is new work.
   */
  readonly idempotencyKey?: (payload: z.output<S>) => string;
  /** Write the job to `<queue>.dead` on its final failure. Default true. */
  readonly deadLetter: boolean;
  /** Shown in the dashboard. */
  readonly description?: string;
  /** Completed jobs kept: at most this many seconds. Default 1 day. */
  readonly keepCompletedSeconds: number;
  /** Failed jobs kept in the source queue: at most this many seconds. Default 7 days. */
  readonly keepFailedSeconds: number;
  /**
   * The payload schema's version. Bump it when the schema changes in a way queued payloads would no longer fit,
   * with a `migrate` step from the previous version. Enqueued payloads carry it (`meta.v`, absent for 1).
   * Default 1.
   */
  readonly version: number;
  /**
   * `migrate[n]` turns a version-n payload into version n + 1 (a step for every version below `version`); a queued
   * job or dead letter of an older version is migrated step by step before it is parsed. Default: none.
   */
  readonly migrate?: Readonly<Record<number, MigrationStep>>;
  /** At most `max` jobs of this queue start per `durationMs`, across every worker. Default: no limit. */
  readonly rateLimit?: RateLimit;
  /**
   * Per-key concurrency: at most `maxPerKey` jobs with the same key (derived from the payload) run at once, across
   * every worker; a job at its key's cap goes back to the delayed set without spending an attempt. Default: none.
   */
  readonly concurrencyKey?: (payload: z.output<S>) => string;
  /** Jobs of one `concurrencyKey` running at once. Default 1 (with a `concurrencyKey`). */
  readonly maxPerKey?: number;
  /** A throttle or debounce window on a key from the payload (keyless jobs only). Default: none. */
  readonly deduplicate?: Deduplicate<z.output<S>>;
}

export type JobDefinitionInput<N extends string, Q extends string, S extends z.ZodType> = Pick<
  JobDefinition<N, Q, S>,
  'name' | 'queue' | 'payload'
> &
  Partial<Omit<JobDefinition<N, Q, S>, 'name' | 'queue' | 'payload' | 'kind' | 'version' | 'migrate'>>;

const NAME = /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/;
const QUEUE = /^[a-z][a-z0-9_-]*$/;

/** Names a job once: everything else (producer types, worker wiring, dashboard, metrics) derives from it. */
export function defineJob<
  const N extends string,
  const Q extends string,
  S extends z.ZodType,
  const V extends number = 1,
>(input: JobDefinitionInput<N, Q, S> & VersionInput<V, S>): JobDefinition<N, Q, S> {
  const { name } = input;
  if (!NAME.test(name)) throw new TypeError(`job name "${name}" must look like area.verb (a-z, 0-9, _ -)`);
  if (!QUEUE.test(input.queue)) throw new TypeError(`queue name "${input.queue}" must be lower-case a-z, 0-9, _ -`);
  const attempts = input.attempts ?? 3;
  if (!Number.isInteger(attempts) || attempts < 1) throw new TypeError(`${name}: attempts must be >= 1`);
  const version = input.version ?? 1;
  checkVersioning(name, version, input.migrate);
  checkRateLimit(name, input.rateLimit);
  checkKeyConcurrency(name, input.concurrencyKey, input.maxPerKey);
  checkDeduplicate(name, input.deduplicate as Deduplicate<never> | undefined, input.idempotencyKey !== undefined);
  return Object.freeze({
    kind: 'job' as const,
    attempts,
    version,
    backoff: { type: 'exponential' as const, delay: 1000 },
    timeoutMs: 60_000,
    deadLetter: true,
    keepCompletedSeconds: 24 * 3600,
    keepFailedSeconds: 7 * 24 * 3600,
    ...input,
  });
}

/** One subscriber of an event: a job, and how its payload is made from the event's. */
export interface Subscriber<E = unknown> {
  readonly job: JobDefinition;
  readonly map?: (event: E) => unknown;
}

/** An event that fans out to one job per subscriber. Build one with `defineEvent`. */
export interface EventDefinition<N extends string = string, S extends z.ZodType = z.ZodType> {
  readonly kind: 'event';
  readonly name: N;
  readonly payload: S;
  readonly subscribers: readonly Subscriber<z.output<S>>[];
  /** Derives the event id from the payload, so publishing the same event twice enqueues once. */
  readonly idempotencyKey?: (payload: z.output<S>) => string;
  readonly description?: string;
}

/** Fan-out: publishing the event enqueues one job per subscriber, each retried and dead-lettered on its own. */
export function defineEvent<const N extends string, S extends z.ZodType>(input: {
  name: N;
  payload: S;
  subscribers: readonly (JobDefinition | Subscriber<z.output<S>>)[];
  idempotencyKey?: (payload: z.output<S>) => string;
  description?: string;
}): EventDefinition<N, S> {
  if (!NAME.test(input.name)) throw new TypeError(`event name "${input.name}" must look like area.happened`);
  if (input.subscribers.length === 0) throw new TypeError(`event "${input.name}" has no subscribers`);
  const subscribers = input.subscribers.map((s) => ('kind' in s ? { job: s } : s));
  const names = new Set(subscribers.map((s) => s.job.name));
  if (names.size !== subscribers.length) throw new TypeError(`event "${input.name}" lists a subscriber twice`);
  return Object.freeze({ ...input, kind: 'event' as const, subscribers });
}

/** Every job, event and schedule of an application, indexed by name. Build one with `defineRegistry`. */
export interface Registry<J extends JobDefinition = JobDefinition, E extends EventDefinition = EventDefinition> {
  readonly jobs: { readonly [K in J['name']]: Extract<J, { name: K }> };
  readonly events: { readonly [K in E['name']]: Extract<E, { name: K }> };
  /** The recurring jobs, in the order given. */
  readonly schedules: readonly ScheduleDefinition[];
  /** Every queue that some job runs on, sorted. */
  readonly queues: readonly J['queue'][];
  /** The jobs of one queue. */
  jobsOf(queue: string): JobDefinition[];
  /** The queue's rate limit (its jobs agree on it), if it has one. */
  rateLimitOf(queue: string): RateLimit | undefined;
}

/** What a registry holds besides its jobs. */
export interface RegistryOptions<E extends readonly EventDefinition[] = readonly EventDefinition[]> {
  /** Fan-out events; their subscribers must be jobs of the registry. Default none. */
  events?: E;
  /** Recurring jobs; their jobs must be in the registry. Default none. */
  schedules?: readonly ScheduleDefinition[];
}

/**
 * The registry: `defineRegistry(jobs, { events, schedules })`, or `defineRegistry(jobs, events)`. Checks that names
 * are unique, that events and schedules name jobs of the registry, and that jobs sharing a queue agree on its
 * `rateLimit`.
 */
export function defineRegistry<
  const J extends readonly JobDefinition[],
  const E extends readonly EventDefinition[] = [],
>(jobs: J, options?: E | RegistryOptions<E>): Registry<J[number], E[number]> {
  const { events, schedules = [] } = Array.isArray(options)
    ? { events: options as E }
    : ((options ?? {}) as RegistryOptions<E>);
  const jobMap: Record<string, JobDefinition> = {};
  for (const j of jobs) {
    if (jobMap[j.name]) throw new TypeError(`job "${j.name}" is defined twice`);
    jobMap[j.name] = j;
  }
  const eventMap: Record<string, EventDefinition> = {};
  for (const e of events ?? []) {
    if (eventMap[e.name] || jobMap[e.name]) throw new TypeError(`name "${e.name}" is defined twice`);
    for (const s of e.subscribers) {
      if (jobMap[s.job.name] !== s.job) {
        throw new TypeError(`event "${e.name}" subscribes "${s.job.name}", which is not in the registry`);
      }
    }
    eventMap[e.name] = e;
  }
  const scheduleNames = new Set<string>();
  for (const s of schedules) {
    if (scheduleNames.has(s.name)) throw new TypeError(`schedule "${s.name}" is defined twice`);
    scheduleNames.add(s.name);
    if (jobMap[s.job.name] !== s.job) {
      throw new TypeError(`schedule "${s.name}" runs "${s.job.name}", which is not in the registry`);
    }
  }
  const rateLimits = rateLimitsByQueue(jobs);
  const queues = [...new Set(jobs.map((j) => j.queue))].sort();
  return Object.freeze({
    jobs: Object.freeze(jobMap),
    events: Object.freeze(eventMap),
    schedules: Object.freeze([...schedules]),
    queues,
    jobsOf: (queue: string) => jobs.filter((j) => j.queue === queue),
    rateLimitOf: (queue: string) => rateLimits.get(queue),
  }) as unknown as Registry<J[number], E[number]>;
}

// ---- Types derived from a registry -------------------------------------------------------------

export type JobsOf<R> = R extends Registry<infer J, EventDefinition> ? J : never;
export type EventsOf<R> = R extends Registry<JobDefinition, infer E> ? E : never;
export type JobName<R> = JobsOf<R>['name'];
export type EventName<R> = EventsOf<R>['name'];
export type QueueName<R> = JobsOf<R>['queue'];
export type JobOf<R, N extends JobName<R>> = Extract<JobsOf<R>, { name: N }>;
/** What a producer passes (schema input: defaults may be omitted). */
export type PayloadInput<R, N extends JobName<R>> = z.input<JobOf<R, N>['payload']>;
/** What a handler receives (schema output: defaults applied). */
export type Payload<R, N extends JobName<R>> = z.output<JobOf<R, N>['payload']>;
export type EventPayloadInput<R, N extends EventName<R>> = z.input<Extract<EventsOf<R>, { name: N }>['payload']>;
/** Names of the jobs that run on the queues `Q`. */
export type JobNameIn<R, Q extends QueueName<R>> = Extract<JobsOf<R>, { queue: Q }>['name'];
