import { defineJob, defineRegistry } from '@bullpen/jobs';
import { z } from 'zod';

/** Widths (px) a client may ask for; each is made as WebP and in the original format. */
export const VARIANT_WIDTHS = [128, 512, 1024] as const;
export type VariantWidth = (typeof VARIANT_WIDTHS)[number];
export const IMAGE_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'avif', 'tiff'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

export const imageResizePayload = z.object({
  uploadId: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
  /** Storage key of the original, made by the API (never user input). */
  originalKey: z.string().min(1),
  format: z.enum(IMAGE_FORMATS),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  sizes: z
    .array(
      z.union(VARIANT_WIDTHS.map((w) => z.literal(w)) as [z.ZodLiteral<128>, z.ZodLiteral<512>, z.ZodLiteral<1024>]),
    )
    .min(1)
    .default([...VARIANT_WIDTHS]),
  callbackUrl: z.url({ protocol: /^https?$/ }).optional(),
});

/** Resizes an uploaded image into its variants. */
export const imageResize = defineJob({
  name: 'image.resize',
  queue: 'images',
  payload: imageResizePayload,
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
  timeoutMs: 120_000,
  idempotencyKey: (p) => p.uploadId,
  description: 'Resizes an uploaded image into WebP and original-format variants',
});

/** Deliveries to one host running at once, across every worker. */
export const WEBHOOK_MAX_PER_HOST = 2;

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
  // One slow receiver must not occupy every worker: at most this many deliveries per destination host at once,
  // across the fleet; the rest wait their turn (delayed, no attempt spent) while other hosts' deliveries flow.
  concurrencyKey: (p) => new URL(p.url).host,
  maxPerKey: WEBHOOK_MAX_PER_HOST,
  description: 'Delivers a signed webhook with retries, at most 2 at once per destination host',
});

/** Bullpen's own jobs: what the API enqueues, the worker runs and the dashboard shows. */
export const registry = defineRegistry([imageResize, webhookDeliver]);
export type AppRegistry = typeof registry;
