import http from 'node:http';
import https from 'node:https';
import {
  type DeadLetter,
  type Handler,
  type JobContext,
  type Payload,
  SIGNATURE_HEADER,
  signWebhook,
} from '@bullpen/jobs';
import { type AppRegistry, checkCallbackTarget, privateSafeLookup, type UploadRecords } from '@bullpen/uploads';
import {
  WebhookRejectedError,
  WebhookRetryableError,
  WebhookTargetForbiddenError,
  WorkerErrorCode,
} from '../errors.ts';

type WebhookPayload = Payload<AppRegistry, 'webhook.deliver'>;

export interface WebhookDeps {
  secret: string;
  timeoutMs: number;
  allowPrivate: boolean;
  records: UploadRecords;
}

/** The JSON a receiver gets. The same bytes on every attempt (only the signature's timestamp changes). */
export function webhookBody(p: WebhookPayload, deliveryId: string): string {
  return JSON.stringify({ id: deliveryId, event: p.event, subjectId: p.subjectId, data: p.body });
}

function post(
  url: URL,
  body: string,
  headers: Record<string, string>,
  opts: { signal: AbortSignal; allowPrivate: boolean },
): Promise<number> {
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        signal: opts.signal,
        // Checks the address actually connected to, not only the one seen at enqueue time.
        ...(opts.allowPrivate ? {} : { lookup: privateSafeLookup as never }),
        agent: false,
      },
      (res) => {
        // The answer's body is not needed (and never logged): drain it.
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * `webhook.deliver`: POSTs signed JSON with an Idempotency-Key. 2xx is done; 5xx, 408, 429, 3xx, network
 * errors and timeouts are retried with the job's backoff; any other 4xx is permanent (dead-lettered at once).
 */
export function webhookDeliverHandler(deps: WebhookDeps): Handler<WebhookPayload> {
  return async (p, ctx: JobContext) => {
    const check = await checkCallbackTarget(p.url, { allowPrivate: deps.allowPrivate });
    if (!check.ok) throw new WebhookTargetForbiddenError(`callback URL ${check.reason}`);
    const deliveryId = ctx.job.idempotencyKey ?? ctx.job.id;
    const body = webhookBody(p, deliveryId);
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'bullpen-webhooks/0.1',
      'idempotency-key': deliveryId,
      'bullpen-event': p.event,
      'bullpen-delivery-attempt': String(ctx.attempt),
      [SIGNATURE_HEADER]: signWebhook(deps.secret, body, Math.floor(Date.now() / 1000)),
    };
    const timeout = AbortSignal.timeout(deps.timeoutMs);
    const signal = AbortSignal.any([ctx.signal, timeout]);
    let status: number;
    try {
      status = await post(check.url, body, headers, { signal, allowPrivate: deps.allowPrivate });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ECALLBACKPRIVATE') {
        throw new WebhookTargetForbiddenError((err as Error).message);
      }
      if (timeout.aborted) {
        throw new WebhookRetryableError(WorkerErrorCode.WEBHOOK_TIMEOUT, `No answer within ${deps.timeoutMs} ms`);
      }
      if (ctx.signal.aborted) throw err;
      throw new WebhookRetryableError(
        WorkerErrorCode.WEBHOOK_NETWORK_ERROR,
        `Webhook endpoint unreachable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        { cause: err },
      );
    }
    if (status >= 200 && status < 300) {
      ctx.log.info({ status, event: p.event }, 'webhook.delivered');
      if (p.event.startsWith('upload.')) await deps.records.update(p.subjectId, { webhook: 'delivered' });
      return { status };
    }
    if (status >= 500 || status === 408 || status === 429 || (status >= 300 && status < 400)) {
      throw new WebhookRetryableError(WorkerErrorCode.WEBHOOK_HTTP_ERROR, `Webhook endpoint answered ${status}`);
    }
    throw new WebhookRejectedError(status);
  };
}

/** When an upload's webhook is dead, the upload's status says so. */
export function webhookDeadLetter(records: UploadRecords) {
  return async (letter: DeadLetter<WebhookPayload>) => {
    const p = letter.payload;
    if (p.event.startsWith('upload.')) await records.update(p.subjectId, { webhook: 'dead' });
  };
}
