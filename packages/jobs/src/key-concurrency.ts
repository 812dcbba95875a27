import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { RedisClient } from './connection.ts';
import type { JobDefinition } from './define.ts';
import { sha } from './keys.ts';
import { putBack } from './postpone.ts';

export function checkKeyConcurrency(name: string, concurrencyKey: unknown, maxPerKey: unknown): void {
  if (concurrencyKey === undefined) {
    if (maxPerKey !== undefined) throw new TypeError(`${name}: maxPerKey needs a concurrencyKey`);
    return;
  }
  if (typeof concurrencyKey !== 'function') throw new TypeError(`${name}: concurrencyKey must be a function`);
  if (maxPerKey !== undefined && (!Number.isInteger(maxPerKey) || (maxPerKey as number) < 1)) {
    throw new TypeError(`${name}: maxPerKey must be an integer >= 1`);
  }
}

// A slot set per (queue, key): a sorted set of holders (job ids) scored by when their slot expires, in Redis
// time. Expired holders (a crashed worker's) are dropped before counting, so a dead holder's slot frees itself
// once its lease runs out. A job that holds a slot already (its own redelivery) takes it again.
// KEYS[1] slot set; ARGV[1] holder, ARGV[2] max, ARGV[3] lease ms. Returns 1 when taken, 0 at the cap.
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease)
return 1`;

// Extends a holder's lease; 0 when the slot was lost (expired and dropped) meanwhile.
const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease)
return 1`;

interface SlotCommands {
  bullpenSlotAcquire(key: string, holder: string, max: number, leaseMs: number): Promise<number>;
  bullpenSlotRenew(key: string, holder: string, leaseMs: number): Promise<number>;
}

/** The first re-delay of a job at its key's cap, in ms; it doubles with each postponement, up to the most. */
export const POSTPONE_FIRST_MS = 100;
export const POSTPONE_MAX_MS = 2000;

/**
 * How long a job at its key's cap waits before it is tried again: 100 ms, doubling with each time it was put back,
 * at most 2 s, each ±50 % at random, so the jobs of a hot key spread out instead of hammering Redis in step.
 * The count comes from BullMQ's own fields (starts minus attempts), so no round trip keeps it.
 */
export function postponeDelayMs(job: Job, random: () => number = Math.random): number {
  const postponed = Math.max(0, (job.attemptsStarted ?? 1) - job.attemptsMade - 1);
  const base = Math.min(POSTPONE_FIRST_MS * 2 ** Math.min(postponed, 16), POSTPONE_MAX_MS);
  return Math.round(base * (0.5 + random()));
}

const SAFE = /^[A-Za-z0-9._@~=+-]{1,120}$/;

/**
 * Per-key concurrency across every worker: at most `maxPerKey` jobs of one key (`concurrencyKey(payload)`) run at
 * once. A slot is taken atomically before the handler runs and given back when it settles; the worker renews the
 * slots it holds on one timer at the lock-renew cadence (half the lease), not per job. A job at its key's cap goes
 * back to the delayed set without spending an attempt (see `postponeDelayMs`).
 */
export class KeySlots {
  private readonly held = new Map<string, { key: string; holder: string }>();
  private timer: NodeJS.Timeout | undefined;
  private readonly client: RedisClient & SlotCommands;

  constructor(
    client: RedisClient,
    private readonly prefix: string,
    /** A slot's lease: the worker's lock duration, so a dead holder's slot frees when its job's lock does. */
    private readonly leaseMs: number,
    private readonly logger: Logger,
  ) {
    const c = client as RedisClient & Partial<SlotCommands>;
    if (!c.bullpenSlotAcquire) c.defineCommand('bullpenSlotAcquire', { numberOfKeys: 1, lua: ACQUIRE });
    if (!c.bullpenSlotRenew) c.defineCommand('bullpenSlotRenew', { numberOfKeys: 1, lua: RENEW });
    this.client = c as RedisClient & SlotCommands;
  }

  /** The Redis key of a key's slot set, under the prefix (one slot of a cluster with a hash-tag prefix). */
  slotKey(queue: string, key: string): string {
    return `${this.prefix}:slots:${queue}:${SAFE.test(key) ? key : `h-${sha(key)}`}`;
  }

  /**
   * Runs `run` holding a slot of the job's key, or postpones the job (throwing BullMQ's `DelayedError`) when the
   * key is at its cap.
   */
  async hold<T>(job: Job, token: string | undefined, def: JobDefinition, payload: unknown, run: () => Promise<T>) {
    const key = this.slotKey(job.queueName, def.concurrencyKey!(payload));
    const holder = job.id!;
    const taken = await this.client.bullpenSlotAcquire(key, holder, def.maxPerKey ?? 1, this.leaseMs);
    if (taken !== 1) {
      if (!token) throw new Error(`job ${holder} at its key's cap has no lock token to postpone with`);
      throw await putBack(job, token, postponeDelayMs(job));
    }
    const ref = `${key}\u0000${holder}`;
    this.held.set(ref, { key, holder });
    this.timer ??= setInterval(() => this.renew(), Math.max(50, Math.floor(this.leaseMs / 2))).unref();
    try {
      return await run();
    } finally {
      this.held.delete(ref);
      await this.client.zrem(key, holder).catch((err: unknown) => {
        // The lease frees it anyway.
        this.logger.warn({ err, jobId: holder }, 'job.key_slot_release_failed');
      });
    }
  }

  /** Slots held now by this worker. */
  get size(): number {
    return this.held.size;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One pipelined round trip for every slot held; the timer stops when none is. */
  private renew(): void {
    if (this.held.size === 0) {
      this.stop();
      return;
    }
    const entries = [...this.held.values()];
    const pipe = this.client.pipeline() as ReturnType<RedisClient['pipeline']> & {
      bullpenSlotRenew(key: string, holder: string, leaseMs: number): unknown;
    };
    for (const e of entries) pipe.bullpenSlotRenew(e.key, e.holder, this.leaseMs);
    pipe
      .exec()
      .then((replies) => {
        replies?.forEach(([err, kept], i) => {
          if (err || kept !== 1) this.logger.warn({ err, jobId: entries[i]!.holder }, 'job.key_slot_lost');
        });
      })
      .catch((err: unknown) => this.logger.warn({ err }, 'job.key_slot_renew_failed'));
  }
}
