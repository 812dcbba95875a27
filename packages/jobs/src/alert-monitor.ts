import { randomBytes } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { Alert, AlertNotifier } from './alert-notifier.ts';
import type { RedisClient } from './connection.ts';

/** The minutes the dead-letter rate is averaged over. */
export const RATE_MINUTES = 5;

export interface MonitorThresholds {
  /** Cap per queue (a number for all, or per queue name), for the backlog share. */
  backlogCap: number | Readonly<Record<string, number>>;
  /** Alert when waiting + delayed + prioritized reaches this share of the cap; 0 turns it off. */
  backlogShare: number;
  /** Alert when jobs wait and no worker has been connected for this long, in seconds; 0 turns it off. */
  noWorkerSeconds: number;
  /** Alert when more letters than this per minute (over the last 5 minutes) are written; 0 turns it off. */
  deadLetterRate: number;
}

export interface MonitorDeps extends MonitorThresholds {
  client: RedisClient;
  prefix: string;
  /** The source queues watched (never their dead-letter queues). */
  queues: readonly Queue[];
  notifier: AlertNotifier;
  logger: Logger;
  intervalMs: number;
}

/** Takes the lease, or renews it when this process holds it: 1 when it holds it now. */
const LEASE = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** The per-minute bucket of letters counted for a queue (see `recordLetter`). */
export const letterBucketKey = (prefix: string, queue: string, minute: number) =>
  `${prefix}:alerts:letters:${queue}:${minute}`;

/**
 * The periodic checks: backlog against its cap, waiting jobs with no worker, the dead-letter rate. Any number of
 * processes may run a monitor; a Redis lease lets one of them check at a time (another takes over within three
 * intervals of its death), and what must outlive a process (since when a queue has had no worker) is in Redis.
 */
export class AlertMonitor {
  private readonly id = randomBytes(9).toString('base64url');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(private readonly deps: MonitorDeps) {}

  start(): void {
    if (this.timer || this.deps.intervalMs <= 0) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.tick()
        .catch((err) => this.deps.logger.warn({ err }, 'alert.check_failed'))
        .finally(() => {
          this.running = undefined;
        });
    }, this.deps.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    await this.deps.client.eval(RELEASE, 1, this.leaseKey, this.id).catch(() => {});
  }

  /** One round: the checks, when this process holds the lease. The alerts it fired. */
  async tick(now = Date.now()): Promise<Alert[]> {
    const { client, intervalMs } = this.deps;
    const held = await client.eval(LEASE, 1, this.leaseKey, this.id, String(Math.max(3 * intervalMs, 1000)));
    if (held !== 1) return [];
    const fired: Alert[] = [];
    for (const q of this.deps.queues) {
      for (const a of await this.checkQueue(q, now)) fired.push(a);
    }
    return fired;
  }

  private get leaseKey(): string {
    return `${this.deps.prefix}:alerts:lease`;
  }

  private capOf(queue: string): number {
    const cap = this.deps.backlogCap;
    return typeof cap === 'number' ? cap : (cap[queue] ?? Number.POSITIVE_INFINITY);
  }

  private async checkQueue(q: Queue, now: number): Promise<Alert[]> {
    const { notifier, backlogShare, noWorkerSeconds, deadLetterRate, client, prefix } = this.deps;
    const out: (Alert | undefined)[] = [];
    const counts = await q.getJobCounts('waiting', 'delayed', 'prioritized');
    const ready = (counts.waiting ?? 0) + (counts.prioritized ?? 0);
    const backlog = ready + (counts.delayed ?? 0);

    const cap = this.capOf(q.name);
    if (backlogShare > 0 && Number.isFinite(cap) && backlog >= backlogShare * cap) {
      out.push(
        await notifier.fire(
          {
            kind: 'queue.backlog',
            queue: q.name,
            message: `Queue ${q.name} holds ${backlog} jobs, ${Math.round((backlog / cap) * 100)}% of its cap of ${cap}`,
            details: { backlog, cap, share: backlogShare },
          },
          q.name,
        ),
      );
    }

    if (noWorkerSeconds > 0) {
      const sinceKey = `${prefix}:alerts:no-worker-since:${q.name}`;
      // CLIENT LIST may be refused (some managed Redis): then this check is skipped, the others still run.
      const workers = ready > 0 ? await q.getWorkersCount().catch(() => undefined) : 1;
      if (workers === undefined) {
        // Unknown: neither start nor stop the clock.
      } else if (ready > 0 && workers === 0) {
        // The first process to see it starts the clock; the key outlives a lease moving elsewhere.
        await client.set(sinceKey, String(now), 'EX', Math.max(3600, noWorkerSeconds * 10), 'NX');
        const since = Number(await client.get(sinceKey)) || now;
        const seconds = Math.floor((now - since) / 1000);
        if (seconds >= noWorkerSeconds) {
          out.push(
            await notifier.fire(
              {
                kind: 'queue.no_worker',
                queue: q.name,
                message: `Queue ${q.name} has ${ready} jobs waiting and no worker for ${seconds} s`,
                details: { waiting: ready, seconds, threshold: noWorkerSeconds },
              },
              q.name,
            ),
          );
        }
      } else {
        await client.del(sinceKey);
      }
    }

    if (deadLetterRate > 0) {
      const minute = Math.floor(now / 60_000);
      const keys = Array.from({ length: RATE_MINUTES }, (_, i) => letterBucketKey(prefix, q.name, minute - i));
      const letters = (await client.mget(...keys)).reduce((sum, v) => sum + (Number(v) || 0), 0);
      const perMinute = letters / RATE_MINUTES;
      if (perMinute > deadLetterRate) {
        out.push(
          await notifier.fire(
            {
              kind: 'dead_letter.rate',
              queue: q.name,
              message: `Queue ${q.name} dead-lettered ${letters} jobs in ${RATE_MINUTES} minutes (${perMinute}/min, threshold ${deadLetterRate}/min)`,
              details: { letters, minutes: RATE_MINUTES, perMinute, threshold: deadLetterRate },
            },
            q.name,
          ),
        );
      }
    }
    return out.filter((a): a is Alert => a !== undefined);
  }
}
