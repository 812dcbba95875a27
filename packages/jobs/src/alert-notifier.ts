import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import type { RedisClient } from './connection.ts';
import type { JobMetrics } from './metrics.ts';
import { SIGNATURE_HEADER, signWebhook } from './webhook-signature.ts';

/** What an alert is about. */
export type AlertKind = 'dead_letter.new_fingerprint' | 'queue.backlog' | 'queue.no_worker' | 'dead_letter.rate';

/** One alert, as logged (`alert.fired`) and POSTed (the webhook body's `data`). */
export interface Alert {
  /** Unique; also the webhook's `Idempotency-Key`. */
  id: string;
  kind: AlertKind;
  /** The source queue it is about (`images`). */
  queue: string;
  /** When it fired (ISO 8601). */
  at: string;
  /** One sentence for people. */
  message: string;
  /** The figures behind it (counts, thresholds, the fingerprint, the build...). */
  details: Record<string, unknown>;
}

export interface AlertWebhook {
  /** Where alerts are POSTed (any http/https URL an operator chose: it is not checked for private addresses). */
  url: string;
  /** HMAC key of the `Bullpen-Signature` header, the scheme of upload webhooks (`signWebhook`). */
  secret: string;
  /** Per delivery attempt, in ms. Default 5000. */
  timeoutMs?: number;
  /** Attempts per alert (1 s, 2 s, 4 s... apart). Default 3. */
  attempts?: number;
}

export interface NotifierDeps {
  client: RedisClient;
  prefix: string;
  logger: Logger;
  /** The same alert (kind and subject) fires at most once per window. */
  windowSeconds: number;
  webhook?: AlertWebhook | undefined;
  metrics?: JobMetrics | undefined;
}

/** Posts JSON and resolves with the status code (any), or rejects on a network error or timeout. */
function post(url: URL, body: string, headers: Record<string, string>, timeoutMs: number): Promise<number> {
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        signal: AbortSignal.timeout(timeoutMs),
        agent: false,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Fires alerts: at most once per window and subject (a `SET NX EX` in Redis, so every process shares the
 * window), as a log event `alert.fired` and, when a webhook is configured, a signed POST with a few retries.
 * Deliveries run in the background; `drain()` waits for them.
 */
export class AlertNotifier {
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly deps: NotifierDeps) {}

  /**
   * Fires the alert unless one of the same kind and `subject` fired within the window. Resolves once it is
   * logged (the webhook is sent in the background), with the alert, or undefined when the window held it back.
   */
  async fire(a: Omit<Alert, 'id' | 'at'>, subject: string): Promise<Alert | undefined> {
    const { client, prefix, windowSeconds } = this.deps;
    const fresh = await client.set(`${prefix}:alerts:sent:${a.kind}:${subject}`, '1', 'EX', windowSeconds, 'NX');
    if (fresh !== 'OK') return undefined;
    const alert: Alert = { ...a, id: `alrt_${randomBytes(9).toString('base64url')}`, at: new Date().toISOString() };
    this.deps.logger.warn({ alertId: alert.id, kind: alert.kind, queue: alert.queue, ...alert.details }, 'alert.fired');
    this.deps.metrics?.alerts.labels(alert.kind, alert.queue).inc();
    if (this.deps.webhook) {
      const sending = this.deliver(alert, this.deps.webhook).finally(() => this.pending.delete(sending));
      this.pending.add(sending);
    }
    return alert;
  }

  /** Waits for the deliveries under way. */
  async drain(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  private async deliver(alert: Alert, hook: AlertWebhook): Promise<void> {
    const { logger } = this.deps;
    const body = JSON.stringify({
      id: alert.id,
      event: 'alert.fired',
      subjectId: alert.queue,
      data: { kind: alert.kind, queue: alert.queue, at: alert.at, message: alert.message, ...alert.details },
    });
    const url = new URL(hook.url);
    const attempts = Math.max(1, hook.attempts ?? 3);
    let last = '';
    for (let i = 1; i <= attempts; i++) {
      const headers = {
        'content-type': 'application/json',
        'user-agent': 'bullpen-alerts/0.1',
        'idempotency-key': alert.id,
        'bullpen-event': 'alert.fired',
        'bullpen-delivery-attempt': String(i),
        [SIGNATURE_HEADER]: signWebhook(hook.secret, body, Math.floor(Date.now() / 1000)),
      };
      try {
        const status = await post(url, body, headers, hook.timeoutMs ?? 5000);
        if (status >= 200 && status < 300) {
          logger.info({ alertId: alert.id, kind: alert.kind, status, attempt: i }, 'alert.delivered');
          return;
        }
        last = `answered ${status}`;
        // A 4xx other than 408/429 will not change on a retry.
        if (status >= 400 && status < 500 && status !== 408 && status !== 429) break;
      } catch (err) {
        last = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      }
      if (i < attempts) await new Promise((r) => setTimeout(r, 1000 * 2 ** (i - 1)));
    }
    logger.error({ alertId: alert.id, kind: alert.kind, reason: last }, 'alert.delivery_failed');
  }
}
