import { randomBytes } from 'node:crypto';
import type { AppRegistry, ImageFormat, Producer } from '@bullpen/jobs';
import { checkCallbackTarget, jobIdFor, VARIANT_WIDTHS } from '@bullpen/jobs';
import { type Storage, type UploadRecord, type UploadRecords, uploadKeys } from '@bullpen/storage';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../errors.ts';
import { type IdempotencyStore, isValidIdempotencyKey } from '../idempotency.ts';
import { probeImage } from '../image-probe.ts';
import { MIME_TYPES, sniffImageType } from '../image-type.ts';
import { receiveUpload } from '../receive-upload.ts';
import {
  errorResponse,
  idempotencyHeaders,
  uploadAccepted,
  uploadFields,
  uploadForm,
  uploadParams,
  uploadStatus,
  variantParams,
} from '../schemas.ts';

export interface UploadRoutesOptions {
  storage: Storage;
  records: UploadRecords;
  producer: Producer<AppRegistry>;
  idempotency: IdempotencyStore;
  maxBytes: number;
  /** An upload that delivers no byte for this long is answered 408 UPLOAD_TIMEOUT. */
  idleTimeoutMs: number;
  maxPixels: number;
  allowPrivateCallbacks: boolean;
  /** Prefix of URLs in answers ('' for relative URLs). */
  publicUrl: string;
}

const IDEMPOTENCY_SCOPE = 'uploads';

/** A new upload id: 16 random bytes, base64url (22 characters). */
const newUploadId = () => randomBytes(16).toString('base64url');

export async function uploadRoutes(app: FastifyInstance, opts: UploadRoutesOptions): Promise<void> {
  const { storage, records, producer, idempotency } = opts;
  const statusPath = (id: string) => `${opts.publicUrl}/uploads/${id}`;
  const variantPath = (id: string, name: string) => `${opts.publicUrl}/uploads/${id}/variants/${name}`;

  app.post(
    '/uploads',
    {
      schema: {
        summary: 'Upload an image',
        description:
          'Multipart form with one `file`. The type is decided from the bytes; the image is resized in the background. ' +
          'Poll `statusUrl` (also the Location header) for progress.',
        tags: ['uploads'],
        consumes: ['multipart/form-data'],
        headers: idempotencyHeaders,
        docsBody: uploadForm,
        response: {
          202: uploadAccepted.meta({ description: 'Accepted: stored and queued' }),
          400: errorResponse.meta({
            description: 'UPLOAD_EMPTY, UPLOAD_TOO_MANY_FILES, UPLOAD_FIELD_INVALID, IDEMPOTENCY_KEY_INVALID',
          }),
          409: errorResponse.meta({ description: 'IDEMPOTENCY_KEY_CONFLICT, IDEMPOTENCY_KEY_IN_PROGRESS' }),
          413: errorResponse.meta({ description: 'UPLOAD_TOO_LARGE' }),
          415: errorResponse.meta({ description: 'UPLOAD_NOT_MULTIPART, UPLOAD_UNSUPPORTED_TYPE' }),
          422: errorResponse.meta({ description: 'UPLOAD_CORRUPT, UPLOAD_TOO_MANY_PIXELS' }),
          503: errorResponse.meta({
            description: 'QUEUE_FULL, QUEUE_UNAVAILABLE, SERVICE_OVERLOADED (with Retry-After)',
          }),
        },
      } as Record<string, unknown>,
    },
    async (req, reply) => {
      const rawKey = req.headers['idempotency-key'];
      const idemKey = typeof rawKey === 'string' ? rawKey : undefined;
      if (rawKey !== undefined && (idemKey === undefined || !isValidIdempotencyKey(idemKey))) {
        throw new ApiError('IDEMPOTENCY_KEY_INVALID');
      }
      // Refuse before reading the body when the queue is full: a burst against a full queue writes nothing.
      await producer.assertRoom('image.resize');
      const { staged, fields } = await receiveUpload(req, storage, {
        maxBytes: opts.maxBytes,
        idleTimeoutMs: opts.idleTimeoutMs,
      });
      let claimed = false;
      let committed: string | undefined;
      try {
        const format = sniffImageType(staged.head);
        if (!format) throw new ApiError('UPLOAD_UNSUPPORTED_TYPE');
        const parsed = uploadFields.safeParse(fields);
        if (!parsed.success) {
          throw new ApiError('UPLOAD_FIELD_INVALID', z.prettifyError(parsed.error).replace(/\n/g, ' '));
        }
        const { callbackUrl } = parsed.data;
        const sizes = parsed.data.sizes ?? [...VARIANT_WIDTHS];
        if (callbackUrl) {
          const check = await checkCallbackTarget(callbackUrl, { allowPrivate: opts.allowPrivateCallbacks });
          if (!check.ok) throw new ApiError('UPLOAD_FIELD_INVALID', `callbackUrl ${check.reason}`);
        }

        const fingerprint = `${staged.sha256}:${JSON.stringify(parsed.data)}`;
        if (idemKey !== undefined) {
          const claim = await idempotency.claim(IDEMPOTENCY_SCOPE, idemKey, fingerprint);
          switch (claim.kind) {
            case 'new':
              claimed = true;
              break;
            case 'replay':
              await staged.discard();
              req.log.info({ uploadId: (claim.answer.body as { uploadId?: string }).uploadId }, 'upload.replayed');
              return reply
                .code(claim.answer.statusCode)
                .headers({ ...claim.answer.headers, 'idempotent-replayed': 'true' })
                .send(claim.answer.body);
            case 'conflict':
              throw new ApiError('IDEMPOTENCY_KEY_CONFLICT');
            case 'in-progress':
              throw new ApiError('IDEMPOTENCY_KEY_IN_PROGRESS', undefined, { 'retry-after': '1' });
            default: {
              const never: never = claim;
              throw new Error(`unexpected claim ${JSON.stringify(never)}`);
            }
          }
        }

        const image = await probeImage(staged.path, format, opts.maxPixels);
        const uploadId = newUploadId();
        const originalKey = uploadKeys.original(uploadId);
        await staged.commit(originalKey);
        committed = uploadId;
        const now = new Date().toISOString();
        const record: UploadRecord = {
          uploadId,
          status: 'queued',
          progress: 0,
          format: image.format,
          width: image.width,
          height: image.height,
          bytes: staged.size,
          originalKey,
          sizes,
          variants: [],
          jobId: jobIdFor('image.resize', uploadId),
          requestId: req.id,
          hasCallback: Boolean(callbackUrl),
          createdAt: now,
          updatedAt: now,
        };
        // The record exists before the job does, so a worker that starts at once finds it.
        await records.create(record);
        const job = await producer.enqueue(
          'image.resize',
          {
            uploadId,
            originalKey,
            format: image.format,
            width: image.width,
            height: image.height,
            sizes,
            ...(callbackUrl ? { callbackUrl } : {}),
          },
          { requestId: req.id },
        );
        const body = { uploadId, jobId: job.jobId, status: 'queued' as const, statusUrl: statusPath(uploadId) };
        const headers = { location: statusPath(uploadId) };
        if (claimed)
          await idempotency.complete(IDEMPOTENCY_SCOPE, idemKey!, fingerprint, { statusCode: 202, body, headers });
        req.log.info(
          {
            requestId: req.id,
            uploadId,
            jobId: job.jobId,
            format: image.format,
            width: image.width,
            height: image.height,
            bytes: staged.size,
          },
          'upload.accepted',
        );
        return reply.code(202).headers(headers).send(body);
      } catch (err) {
        await staged.discard();
        if (committed) {
          await storage
            .deletePrefix(uploadKeys.dir(committed))
            .catch((e) => req.log.error({ err: e }, 'upload.cleanup_failed'));
          await records.delete(committed).catch((e) => req.log.error({ err: e }, 'upload.cleanup_failed'));
        }
        if (claimed) await idempotency.release(IDEMPOTENCY_SCOPE, idemKey!).catch(() => {});
        throw err;
      }
    },
  );

  app.get(
    '/uploads/:id',
    {
      schema: {
        summary: 'Status of an upload',
        tags: ['uploads'],
        params: uploadParams,
        response: { 200: uploadStatus, 404: errorResponse.meta({ description: 'NOT_FOUND' }) },
      },
    },
    async (req) => {
      const { id } = req.params as z.infer<typeof uploadParams>;
      const rec = await records.get(id);
      if (!rec) throw new ApiError('NOT_FOUND', 'No such upload');
      return {
        uploadId: rec.uploadId,
        status: rec.status,
        progress: rec.progress,
        format: rec.format as ImageFormat,
        width: rec.width,
        height: rec.height,
        bytes: rec.bytes,
        sizes: rec.sizes,
        variants: rec.variants.map((v) => ({
          name: v.name,
          format: v.format as ImageFormat,
          width: v.width,
          height: v.height,
          bytes: v.bytes,
          url: variantPath(rec.uploadId, v.name),
        })),
        jobId: rec.jobId,
        ...(rec.webhook ? { webhook: rec.webhook } : {}),
        ...(rec.error ? { error: rec.error } : {}),
        createdAt: rec.createdAt,
        updatedAt: rec.updatedAt,
      } satisfies z.input<typeof uploadStatus>;
    },
  );

  app.get(
    '/uploads/:id/variants/:variant',
    {
      schema: {
        summary: 'One variant of an upload',
        description:
          'Served with its Content-Type, a strong ETag and long-lived cache headers (variants never change).',
        tags: ['uploads'],
        params: variantParams,
        response: {
          200: { description: 'The image', content: { 'image/*': { schema: { type: 'string', format: 'binary' } } } },
          304: { description: 'Not modified (If-None-Match)' },
          404: errorResponse.meta({ description: 'NOT_FOUND' }),
        },
      },
    },
    async (req, reply) => {
      const { id, variant } = req.params as z.infer<typeof variantParams>;
      const rec = await records.get(id);
      const info = rec?.variants.find((v) => v.name === variant);
      if (!info) throw new ApiError('NOT_FOUND', 'No such variant (yet)');
      const type = MIME_TYPES[info.format as keyof typeof MIME_TYPES] ?? 'application/octet-stream';
      reply.headers({
        etag: info.etag,
        'cache-control': 'public, max-age=31536000, immutable',
        'x-content-type-options': 'nosniff',
      });
      const inm = req.headers['if-none-match'];
      if (inm?.split(',').some((t) => t.trim() === info.etag || t.trim() === '*')) {
        return reply.code(304).send();
      }
      const stream = await storage.createReadStream(info.key).catch(() => undefined);
      if (!stream) throw new ApiError('NOT_FOUND', 'No such variant (yet)');
      return reply.type(type).header('content-length', info.bytes).send(stream);
    },
  );
}
