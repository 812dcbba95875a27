import { z } from 'zod';
import { defineJob } from '../define.ts';

/** Widths (px) a client may ask for; each is made as WebP and in the original format. */
export const VARIANT_WIDTHS = [128, 512, 1024] as const;
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
