import { z } from 'zod';
import { defineJob } from '../define.ts';

export const webhookDeliverPayload = z.object({
  url: z.url({ protocol: /^https?$/ }),
  /** What happened, e.g. `upload.completed`. */
  event: z.string().min(1),
  /** The subject, e.g. the upload id: with `event` it makes the idempotency key. */
  subjectId: z.string().min(1),
  body: z.record(z.string(), z.unknown()),
});

/** POSTs a signed JSON webhook. 5xx, 408, 429 and network errors are retried; other 4xx are permanent. */
export const webhookDeliver = defineJob({
  name: 'webhook.deliver',
  queue: 'webhooks',
  payload: webhookDeliverPayload,
  attempts: 8,
  backoff: { type: 'exponential', delay: 2000 },
  timeoutMs: 30_000,
  idempotencyKey: (p) => `${p.event}-${p.subjectId}`,
  description: 'Delivers a signed webhook with retries',
});
