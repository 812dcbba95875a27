import type { AlertOptions } from '@bullpen/jobs';
import type { Config } from './schema.ts';

type AlertSettings = Pick<
  Config<'api'>,
  | 'BULLPEN_PREFIX'
  | 'QUEUE_MAX_BACKLOG'
  | 'BUILD_VERSION'
  | 'ALERT_WEBHOOK_URL'
  | 'ALERT_WEBHOOK_SECRET'
  | 'ALERT_WINDOW_SECONDS'
  | 'ALERT_BACKLOG_SHARE'
  | 'ALERT_NO_WORKER_SECONDS'
  | 'ALERT_DEAD_LETTER_RATE'
  | 'ALERT_CHECK_INTERVAL_MS'
>;

/**
 * `createAlerts` options from the configuration, the same in every app: the ALERT_* settings, the backlog cap,
 * and the build (BUILD_VERSION, else `fallbackVersion`, the app's own version).
 */
export function alertOptionsOf(
  c: AlertSettings,
  fallbackVersion: string,
): Omit<AlertOptions, 'connection' | 'logger' | 'metrics' | 'queues'> {
  return {
    prefix: c.BULLPEN_PREFIX,
    ...(c.ALERT_WEBHOOK_URL && c.ALERT_WEBHOOK_SECRET
      ? { webhook: { url: c.ALERT_WEBHOOK_URL, secret: c.ALERT_WEBHOOK_SECRET } }
      : {}),
    windowSeconds: c.ALERT_WINDOW_SECONDS,
    buildVersion: c.BUILD_VERSION ?? fallbackVersion,
    backlogCap: c.QUEUE_MAX_BACKLOG,
    backlogShare: c.ALERT_BACKLOG_SHARE,
    noWorkerSeconds: c.ALERT_NO_WORKER_SECONDS,
    deadLetterRate: c.ALERT_DEAD_LETTER_RATE,
    checkIntervalMs: c.ALERT_CHECK_INTERVAL_MS,
  };
}
