import type { z } from 'zod';

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
}

export type JobDefinitionInput<N extends string, Q extends string, S extends z.ZodType> = Pick<
  JobDefinition<N, Q, S>,
  'name' | 'queue' | 'payload'
> &
  Partial<Omit<JobDefinition<N, Q, S>, 'name' | 'queue' | 'payload' | 'kind'>>;

const NAME = /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/;
const QUEUE = /^[a-z][a-z0-9_-]*$/;

/** Names a job once: everything else (producer types, worker wiring, dashboard, metrics) derives from it. */
export function defineJob<const N extends string, const Q extends string, S extends z.ZodType>(
  input: JobDefinitionInput<N, Q, S>,
): JobDefinition<N, Q, S> {
  if (!NAME.test(input.name)) throw new TypeError(`job name "${input.name}" must look like area.verb (a-z, 0-9, _ -)`);
  if (!QUEUE.test(input.queue)) throw new TypeError(`queue name "${input.queue}" must be lower-case a-z, 0-9, _ -`);
  const attempts = input.attempts ?? 3;
  if (!Number.isInteger(attempts) || attempts < 1) throw new TypeError(`${input.name}: attempts must be >= 1`);
  return Object.freeze({
    kind: 'job' as const,
    attempts,
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

/** Every job and event of an application, indexed by name. Build one with `defineRegistry`. */
export interface Registry<J extends JobDefinition = JobDefinition, E extends EventDefinition = EventDefinition> {
  readonly jobs: { readonly [K in J['name']]: Extract<J, { name: K }> };
  readonly events: { readonly [K in E['name']]: Extract<E, { name: K }> };
  /** Every queue that some job runs on, sorted. */
  readonly queues: readonly J['queue'][];
  /** The jobs of one queue. */
  jobsOf(queue: string): JobDefinition[];
}

export function defineRegistry<
  const J extends readonly JobDefinition[],
  const E extends readonly EventDefinition[] = [],
>(jobs: J, events?: E): Registry<J[number], E[number]> {
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
  const queues = [...new Set(jobs.map((j) => j.queue))].sort();
  return Object.freeze({
    jobs: Object.freeze(jobMap),
    events: Object.freeze(eventMap),
    queues,
    jobsOf: (queue: string) => jobs.filter((j) => j.queue === queue),
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
