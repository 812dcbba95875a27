import { IMAGE_FORMATS, UPLOAD_STATUSES, VARIANT_WIDTHS, WEBHOOK_STATUSES } from '@bullpen/uploads';
import { z } from 'zod';

/**
 * The zod schemas of the HTTP API: route validation uses them, and the OpenAPI document is generated
 * from them (see zod-schema.ts), so the docs cannot drift from what is enforced.
 */

export const uploadIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{8,64}$/)
  .meta({ description: 'Upload id, made by the server', example: 'Xo1c3m9hYJ2Q8rWf0aLk7g' });

export const variantNameSchema = z
  .string()
  .regex(new RegExp(`^(${VARIANT_WIDTHS.join('|')})\\.(${IMAGE_FORMATS.join('|')})$`))
  .meta({ description: '`<width>.<format>`, e.g. `512.webp`', example: '512.webp' });

export const uploadParams = z.object({ id: uploadIdSchema });
export const variantParams = z.object({ id: uploadIdSchema, variant: variantNameSchema });

/** `sizes`: comma-separated widths (or the field repeated), each one of VARIANT_WIDTHS. */
export const sizesField = z
  .string()
  .max(64)
  .transform((raw, ctx) => {
    const parts = raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const out = new Set<(typeof VARIANT_WIDTHS)[number]>();
    for (const p of parts) {
      const n = Number(p);
      const w = VARIANT_WIDTHS.find((v) => v === n);
      if (!/^\d+$/.test(p) || w === undefined) {
        ctx.addIssue({ code: 'custom', message: `each size must be one of ${VARIANT_WIDTHS.join(', ')}` });
        return z.NEVER;
      }
      out.add(w);
    }
    if (out.size === 0) {
      ctx.addIssue({ code: 'custom', message: `at least one of ${VARIANT_WIDTHS.join(', ')}` });
      return z.NEVER;
    }
    return [...out].sort((a, b) => a - b);
  })
  .meta({
    description: `Widths to make, comma-separated, from ${VARIANT_WIDTHS.join(', ')}; default all`,
    example: '128,512',
  });

/** A host name, or an IPv6 literal in brackets (as `URL` writes it): IPv6 is checked like IPv4. */
const callbackHost = new RegExp(`^(?:\\[[0-9a-f:.]+\\]|${z.regexes.hostname.source.slice(1, -1)})$`, 'i');

export const callbackUrlField = z
  .url({ protocol: /^https?$/, hostname: callbackHost })
  .max(2048)
  .meta({
    description: 'Called (POST, signed JSON) when the upload is done; loopback and private addresses are refused',
    example: 'https://example.com/hooks/bullpen',
  });

/** The form fields besides the file. Unknown fields are refused. */
export const uploadFields = z.strictObject({
  sizes: sizesField.optional(),
  callbackUrl: callbackUrlField.optional(),
});

/** The multipart body, for the OpenAPI document only (multipart is parsed by hand, streaming). */
export const uploadForm = z.object({
  file: z.string().meta({ format: 'binary', description: 'The image: JPEG, PNG, WebP, GIF, AVIF or TIFF' }),
  sizes: z
    .string()
    .optional()
    .meta(sizesField.meta() ?? {}),
  callbackUrl: z
    .string()
    .optional()
    .meta(callbackUrlField.meta() ?? {}),
});

export const idempotencyHeaders = z.looseObject({
  'idempotency-key': z
    .string()
    .optional()
    .meta({ description: 'Makes a retried request return the first answer; kept 24 h' }),
});

export const uploadAccepted = z.object({
  uploadId: uploadIdSchema,
  jobId: z.string(),
  status: z.literal('queued'),
  statusUrl: z.string().meta({ description: 'Where to poll the status (also the Location header)' }),
});

export const variantView = z.object({
  name: variantNameSchema,
  format: z.enum(IMAGE_FORMATS),
  width: z.number().int(),
  height: z.number().int(),
  bytes: z.number().int(),
  url: z.string(),
});

export const uploadStatus = z.object({
  uploadId: uploadIdSchema,
  status: z.enum(UPLOAD_STATUSES),
  progress: z.number().min(0).max(100),
  format: z.enum(IMAGE_FORMATS),
  width: z.number().int(),
  height: z.number().int(),
  bytes: z.number().int(),
  sizes: z.array(z.number().int()),
  variants: z.array(variantView),
  jobId: z.string(),
  webhook: z.enum(WEBHOOK_STATUSES).optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const errorResponse = z
  .object({
    error: z.object({
      code: z.string().meta({ example: 'UPLOAD_TOO_LARGE' }),
      message: z.string(),
      requestId: z.string(),
    }),
  })
  .meta({ description: 'Every error answer' });

export const healthResponse = z.object({ status: z.literal('ok') });
