import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { RedisClient } from './connection.ts';
import type { EventDefinition } from './define.ts';
import type { EnqueueResult, Enqueuer } from './enqueuer.ts';
import { JobPayloadInvalidError, JobUnknownError, QueueFullError } from './errors.ts';
import { frameworkKeys } from './keys.ts';

export interface PublishResult {
  eventId: string;
  jobs: EnqueueResult[];
  /** True when this event id was published before: nothing new was enqueued. */
  deduplicated: boolean;
}

interface EventRecord {
  name: string;
  payload: unknown;
  requestId?: string;
}

const EVENT_TTL_SECONDS = 7 * 24 * 3600;

/**
 * Fan-out, all or none, and resumable. Every subscriber payload is checked before anything is written; the
 * event is recorded first (and listed as pending), then one job per subscriber is added under an id derived
 * from the event id, then the event is marked done. A crash in between leaves it pending: `resumePending`
 * publishes it again from its record, and the derived ids make the second pass add only what is missing.
 */
export class EventPublisher {
  private readonly keys: ReturnType<typeof frameworkKeys>;

  constructor(
    private readonly events: Readonly<Record<string, EventDefinition>>,
    private readonly enqueuer: Enqueuer,
    private readonly client: RedisClient,
    prefix: string,
    private readonly logger?: Logger,
  ) {
    this.keys = frameworkKeys(prefix);
  }

  async publish(name: string, payload: unknown, opts: { eventId?: string; requestId?: string } = {}) {
    const event = this.events[name];
    if (!event) throw new JobUnknownError(name, 'event');
    const parsed = event.payload.safeParse(payload);
    if (!parsed.success) throw new JobPayloadInvalidError(name, parsed.error.issues);
    const eventId = opts.eventId ?? event.idempotencyKey?.(parsed.data) ?? randomUUID();
    const prepared = event.subscribers.map((s) =>
      this.enqueuer.prepare(
        s.job.name,
        s.map ? s.map(parsed.data) : parsed.data,
        { idempotencyKey: `evt-${eventId}`, requestId: opts.requestId },
        { eventId },
      ),
    );
    const key = this.keys.event(eventId);
    const record: EventRecord = {
      name,
      payload: parsed.data,
      ...(opts.requestId ? { requestId: opts.requestId } : {}),
    };
    const created = await this.client.hsetnx(key, 'record', JSON.stringify(record));
    if (!created && (await this.client.hget(key, 'status')) === 'done') {
      const jobs = prepared.map((p) => ({ jobId: p.jobId!, queue: p.def.queue, name: p.def.name, deduplicated: true }));
      return { eventId, deduplicated: true, jobs } satisfies PublishResult;
    }
    // NX: a resumed publish keeps the time the event was first recorded.
    await this.client.zadd(this.keys.pendingEvents, 'NX', Date.now(), eventId);
    let jobs: EnqueueResult[];
    try {
      jobs = await this.enqueuer.addMany(prepared);
    } catch (err) {
      // A first publish refused at admission added nothing: forget the event. A resumed one (the record was
      // there before) stays pending, so a later recovery finishes it.
      if (err instanceof QueueFullError && created) {
        await this.client.del(key);
        await this.client.zrem(this.keys.pendingEvents, eventId);
      }
      throw err;
    }
    await this.client.multi().hset(key, 'status', 'done').expire(key, EVENT_TTL_SECONDS).exec();
    await this.client.zrem(this.keys.pendingEvents, eventId);
    return { eventId, jobs, deduplicated: false } satisfies PublishResult;
  }

  /** Finishes publishes recorded at least `olderThanMs` ago and not done (a crash cut them short). */
  async resumePending(olderThanMs = 30_000): Promise<number> {
    const { client, keys } = this;
    const ids = await client.zrangebyscore(keys.pendingEvents, '-inf', Date.now() - olderThanMs, 'LIMIT', 0, 100);
    let resumed = 0;
    for (const eventId of ids) {
      const raw = await client.hget(keys.event(eventId), 'record');
      if (!raw) {
        await client.zrem(keys.pendingEvents, eventId);
        continue;
      }
      const rec = JSON.parse(raw) as EventRecord;
      try {
        // The event is not done, so every subscriber job is (re)added; those already there are kept.
        await this.publish(rec.name, rec.payload, { eventId, requestId: rec.requestId });
        resumed++;
      } catch (err) {
        this.logger?.warn({ err, eventId }, 'event.resume_failed');
      }
    }
    return resumed;
  }
}
