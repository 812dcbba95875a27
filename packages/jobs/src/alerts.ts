import { type Logger, pino } from 'pino';
import { AlertMonitor, letterBucketKey } from './alert-monitor.ts';
import { type Alert, AlertNotifier, type AlertWebhook } from './alert-notifier.ts';
import type { RedisClient } from './connection.ts';
import type { DeadLetter } from './dead-letter.ts';
import type { Registry } from './define.ts';
import type { JobMetrics } from './metrics.ts';
import { QueueSet } from './queues.ts';

export type { Alert, AlertKind, AlertWebhook } from './alert-notifier.ts';

export interface AlertOptions {
  /** Any connection (the alerts never block on it); not closed by `close()`. */
  connection: RedisClient;
  /** Key prefix (`BULLPEN_PREFIX`). */
  prefix: string;
  /** Source queues watched (their dead letters with them). Default: every queue of the registry. */
  queues?: readonly string[];
  logger?: Logger;
  metrics?: JobMetrics;
  /** Where alerts are POSTed, signed like upload webhooks. Unset: alerts are only logged (`alert.fired`). */
  webhook?: AlertWebhook;
  /** An alert of one kind about one subject (a queue, a fingerprint) fires at most once per window, in seconds. Default 3600. */
  windowSeconds?: number;
  /** This process's build, named by new-fingerprint alerts (the build that first met the failure). */
  buildVersion?: string;
  /** The backlog cap per queue (the producers' `maxBacklog`), for `backlogShare`. Default: none (no backlog alert). */
  backlogCap?: number | Readonly<Record<string, number>>;
  /** Alert when a queue's backlog (waiting + delayed + prioritized) reaches this share of its cap. 0: off. Default 0.8. */
  backlogShare?: number;
  /** Alert when a queue has had jobs waiting and no worker connected for this long, in seconds. 0: off. Default 60. */
  noWorkerSeconds?: number;
  /** Alert when a queue dead-letters more than this many jobs per minute (averaged over 5 minutes). 0: off. Default 10. */
  deadLetterRate?: number;
  /**
   * How often this process takes part in the periodic checks (backlog, no worker, rate), in ms; one process at a
   * time checks (a Redis lease), so run them wherever it suits (api, workers, dashboard). 0: this process never
   * checks (it still reports new fingerprints of the letters its workers write). Default 15 s.
   */
  checkIntervalMs?: number;
}

export interface Alerts {
  /**
   * For `WorkerOptions.onDeadLetter`: records a letter. A fingerprint never seen before (in 90 days) alerts at
   * once, naming the build; every letter counts toward the dead-letter rate. One round trip; the webhook is sent
   * in the background, so a slow receiver never holds a job up.
   */
  onDeadLetter(letter: DeadLetter): Promise<void>;
  /** Runs the periodic checks once, now, when this process holds the lease (it takes it if free). */
  check(): Promise<Alert[]>;
  /** Stops the checks, gives the lease up and waits for deliveries under way. */
  close(): Promise<void>;
}

const FINGERPRINT_TTL_SECONDS = 90 * 24 * 3600;

/**
 * Alerts inside the queue, the way Sentry alerts on exceptions: a new failure kind (dead-letter fingerprint),
 * a backlog close to its cap, waiting jobs with no worker, a dead-letter rate over a threshold. Each is logged
 * as `alert.fired` and, with a webhook, POSTed signed; each is deduplicated per window across every process.
 */
export function createAlerts<R extends Registry>(registry: R, options: AlertOptions): Alerts {
  const logger = options.logger ?? pino({ level: 'silent' });
  const { connection: client, prefix } = options;
  const notifier = new AlertNotifier({
    client,
    prefix,
    logger,
    windowSeconds: options.windowSeconds ?? 3600,
    webhook: options.webhook,
    metrics: options.metrics,
  });
  const watched = (options.queues ?? registry.queues) as readonly string[];
  const queues = new QueueSet(client, prefix);
  const monitor = new AlertMonitor({
    client,
    prefix,
    queues: watched.map((q) => queues.get(q)),
    notifier,
    logger,
    intervalMs: options.checkIntervalMs ?? 15_000,
    backlogCap: options.backlogCap ?? Number.POSITIVE_INFINITY,
    backlogShare: options.backlogShare ?? 0.8,
    noWorkerSeconds: options.noWorkerSeconds ?? 60,
    deadLetterRate: options.deadLetterRate ?? 10,
  });
  monitor.start();

  return {
    async onDeadLetter(letter) {
      const fpKey = `${prefix}:alerts:fingerprint:${letter.sourceQueue}:${letter.name}:${letter.fingerprint}`;
      const bucket = letterBucketKey(prefix, letter.sourceQueue, Math.floor(Date.now() / 60_000));
      const firstSeen = JSON.stringify({ at: letter.failedAt, jobId: letter.jobId, build: options.buildVersion });
      // One round trip: whether the fingerprint is new (SET NX, atomic across workers), kept 90 days from its
      // last sighting, and the letter counted in this minute's bucket.
      const replies = await client
        .multi()
        .set(fpKey, firstSeen, 'NX')
        .expire(fpKey, FINGERPRINT_TTL_SECONDS)
        .incr(bucket)
        .expire(bucket, 3600)
        .exec();
      if (replies?.[0]?.[1] !== 'OK') return;
      const build = options.buildVersion ?? 'unknown';
      await notifier.fire(
        {
          kind: 'dead_letter.new_fingerprint',
          queue: letter.sourceQueue,
          message: `New failure in ${letter.sourceQueue} / ${letter.name} on build ${build}: ${letter.code}: ${letter.error.message.slice(0, 200)}`,
          details: {
            job: letter.name,
            jobId: letter.jobId,
            fingerprint: letter.fingerprint,
            fingerprintText: letter.fingerprintText,
            code: letter.code,
            error: letter.error.message.slice(0, 300),
            buildVersion: build,
          },
        },
        `${letter.sourceQueue}:${letter.fingerprint}`,
      );
    },

    check: () => monitor.tick(),

    async close() {
      await monitor.stop();
      await notifier.drain();
      await queues.close();
    },
  };
}
