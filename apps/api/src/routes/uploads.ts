import type { JobAdmin } from '@bullpen/jobs';
import type { Storage } from '@bullpen/storage';
import {
  type AcceptUploadDeps,
  acceptUpload,
  cancelUpload,
  checkCallbackTarget,
  type ImageFormat,
  isValidIdempotencyKey,
  type UploadRecord,
  type UploadRecords,
  VARIANT_WIDTHS,
} from '@bullpen/uploads';
import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import { ApiError } from '../errors.ts';
import { type ProbedImage, probeImage } from '../image-probe.ts';
import { MIME_TYPES, sniffImageType } from '../image-type.ts';
import { receiveUpload, type TransferLimits } from '../receive-upload.ts';
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
import { describeIssues } from '../zod-schema.ts';

export interface UploadRoutesOptions extends AcceptUploadDeps {
  storage: Storage;
  records: UploadRecords;
  /** Cancels an upload's job (DELETE). */
  admin: Pick<JobAdmin, 'cancel'>;
  maxBytes: number;
  /** Stalled, trickling or overlong uploads are answered 408 UPLOAD_TIMEOUT. */
  transfer: TransferLimits;
  maxPixels: number;
  allowPrivateCallbacks: boolean;
  /** Prefix of URLs in answers ('' for relative URLs). */
  publicUrl: string;
  /** True while the Redis connection is lost (reconnecting): uploads are refused at once with 503. */
  redisLost(): boolean;
  /** Sets attributes on the request's active span, when tracing is on. */
  annotate?: (attributes: Record<string, string>) => void;
}

export async function uploadRoutes(app: FastifyInstance, opts: UploadRoutesOptions): Promise<void> {
  const { storage, records, producer } = opts;
  const deps: AcceptUploadDeps = opts;
  const statusPath = (id: string) => `${opts.publicUrl}/uploads/${id}`;
  const variantPath = (id: string, name: string) => `${opts.publicUrl}/uploads/${id}/variants/${name}`;
  const statusBody = (rec: UploadRecord) =>
    ({
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
    }) satisfies z.input<typeof uploadStatus>;

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
          408: errorResponse.meta({ description: 'UPLOAD_TIMEOUT: stalled, too slow, or over the deadline' }),
          413: errorResponse.meta({ description: 'UPLOAD_TOO_LARGE' }),
          415: errorResponse.meta({ description: 'UPLOAD_NOT_MULTIPART, UPLOAD_UNSUPPORTED_TYPE' }),
          422: errorResponse.meta({ description: 'UPLOAD_CORRUPT, UPLOAD_TOO_MANY_PIXELS' }),
          507: errorResponse.meta({ description: 'STORAGE_FULL (with Retry-After)' }),
          503: errorResponse.meta({
            description: 'QUEUE_FULL, QUEUE_UNAVAILABLE, REDIS_UNAVAILABLE, SERVICE_OVERLOADED (with Retry-After)',
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
      // Refuse before reading the body when Redis is lost or the queue is full: nothing is written then.
      if (opts.redisLost()) throw new ApiError('REDIS_UNAVAILABLE', undefined, { 'retry-after': '5' });
      await producer.assertRoom('image.resize');
      const { staged, fields } = await receiveUpload(req, storage, {
        ...opts.transfer,
        maxBytes: opts.maxBytes,
      });
      try {
        const format = sniffImageType(staged.head);
        if (!format) throw new ApiError('UPLOAD_UNSUPPORTED_TYPE');
        const parsed = uploadFields.safeParse(fields);
        if (!parsed.success) {
          throw new ApiError('UPLOAD_FIELD_INVALID', describeIssues(parsed.error));
        }
        const { callbackUrl } = parsed.data;
        if (callbackUrl) {
          const check = await checkCallbackTarget(callbackUrl, { allowPrivate: opts.allowPrivateCallbacks });
          if (!check.ok) throw new ApiError('UPLOAD_FIELD_INVALID', `callbackUrl ${check.reason}`);
        }
        let probed: ProbedImage | undefined;
        const accepted = await acceptUpload(deps, {
          staged,
          format,
          sizes: parsed.data.sizes ?? VARIANT_WIDTHS,
          ...(callbackUrl ? { callbackUrl } : {}),
          requestId: req.id,
          ...(idemKey !== undefined ? { idempotencyKey: idemKey, fingerprint: JSON.stringify(parsed.data) } : {}),
          probe: async (s) => (probed = await probeImage(s, format, opts.maxPixels)),
        });
        const { uploadId, jobId } = accepted;
        opts.annotate?.({ 'bullpen.upload_id': uploadId, 'bullpen.job.id': jobId });
        const body = { uploadId, jobId, status: 'queued' as const, statusUrl: statusPath(uploadId) };
        reply.code(202).header('location', statusPath(uploadId));
        if (accepted.replayed) {
          req.log.info({ uploadId }, 'upload.replayed');
          return reply.header('idempotent-replayed', 'true').send(body);
        }
        req.log.info(
          {
            requestId: req.id,
            uploadId,
            jobId,
            format,
            width: probed?.width,
            height: probed?.height,
            bytes: staged.size,
          },
          'upload.accepted',
        );
        return reply.send(body);
      } catch (err) {
        await staged.discard();
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
      return statusBody(rec);
    },
  );

  app.delete(
    '/uploads/:id',
    {
      schema: {
        summary: 'Cancel an upload and delete what was stored',
        description:
          'Cancels the resize (removed when it has not started; stopped on whichever worker runs it), deletes the ' +
          'original and every variant, and answers with the final status, `cancelled`. Idempotent: a second DELETE ' +
          'answers the same.',
        tags: ['uploads'],
        params: uploadParams,
        response: { 200: uploadStatus, 404: errorResponse.meta({ description: 'NOT_FOUND' }) },
      },
    },
    async (req) => {
      const { id } = req.params as z.infer<typeof uploadParams>;
      const cancelled = await cancelUpload({ records, storage, admin: opts.admin }, id, { actor: `api:${req.id}` });
      if (!cancelled) throw new ApiError('NOT_FOUND', 'No such upload');
      req.log.info({ uploadId: id, job: cancelled.job.status, state: cancelled.job.state }, 'upload.cancelled');
      return statusBody(cancelled.record);
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
