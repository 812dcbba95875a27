import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AppRegistry,
  type Handler,
  type ImageFormat,
  type JobContext,
  type Payload,
  type Producer,
  WorkerShuttingDownError,
} from '@bullpen/jobs';
import {
  ObjectNotFoundError,
  type Storage,
  type UploadRecords,
  uploadKeys,
  type VariantInfo,
  variantName,
} from '@bullpen/storage';
import sharp from 'sharp';
import { ImageOriginalMissingError } from '../errors.ts';

type ResizePayload = Payload<AppRegistry, 'image.resize'>;

export interface ImageResizeDeps {
  storage: Storage;
  records: UploadRecords;
  producer: Producer<AppRegistry>;
  /** Test only: pause between variants (WORKER_TEST_STEP_DELAY_MS). */
  stepDelayMs?: number;
}

export interface PlannedVariant {
  name: string;
  width: number;
  format: ImageFormat;
}

/** Every variant of an upload: each width as WebP and in the original format (once when that is WebP). */
export function planVariants(p: Pick<ResizePayload, 'sizes' | 'format'>): PlannedVariant[] {
  const formats: ImageFormat[] = p.format === 'webp' ? ['webp'] : ['webp', p.format];
  return [...new Set(p.sizes)]
    .sort((a, b) => a - b)
    .flatMap((width) => formats.map((format) => ({ name: variantName(width, format), width, format })));
}

type SharpImage = ReturnType<typeof sharp>;

function encode(img: SharpImage, format: ImageFormat): SharpImage {
  switch (format) {
    case 'webp':
      return img.webp({ quality: 80 });
    case 'jpeg':
      return img.jpeg({ quality: 82, progressive: true });
    case 'png':
      return img.png({ compressionLevel: 8 });
    case 'gif':
      return img.gif();
    case 'avif':
      return img.avif({ quality: 50, effort: 4 });
    case 'tiff':
      return img.tiff({ compression: 'lzw' });
    default: {
      const never: never = format;
      throw new Error(`unknown format ${String(never)}`);
    }
  }
}

/**
 * One variant: EXIF orientation applied, metadata stripped (sharp keeps none unless asked), never
 * upscaled, written atomically under its deterministic key.
 */
async function renderVariant(
  original: Buffer,
  uploadId: string,
  v: PlannedVariant,
  storage: Storage,
): Promise<VariantInfo> {
  const img = sharp(original, { failOn: 'truncated', autoOrient: true }).resize({
    width: v.width,
    withoutEnlargement: true,
  });
  const { data, info } = await encode(img, v.format).toBuffer({ resolveWithObject: true });
  const key = uploadKeys.variant(uploadId, v.name);
  await storage.put(key, data);
  const etag = `"${createHash('sha256').update(data).digest('base64url').slice(0, 27)}"`;
  return { name: v.name, key, format: v.format, width: info.width, height: info.height, bytes: data.length, etag };
}

/** `image.resize`: makes the variants, one `ctx.step` each, and keeps the upload's status record current. */
export function imageResizeHandler(deps: ImageResizeDeps): Handler<ResizePayload> {
  const { storage, records, producer } = deps;
  return async (p, ctx: JobContext) => {
    try {
      await records.update(p.uploadId, { status: 'processing' }, { unless: ['done'] });
      const original = await storage.get(p.originalKey).catch((err) => {
        throw err instanceof ObjectNotFoundError ? new ImageOriginalMissingError(p.originalKey) : err;
      });
      const plan = planVariants(p);
      const made: VariantInfo[] = [];
      for (const [i, v] of plan.entries()) {
        // A redelivered or replayed job gets the stored result: a finished variant is never redone.
        made.push(await ctx.step(`variant:${v.name}`, () => renderVariant(original, p.uploadId, v, storage)));
        const progress = Math.floor(((i + 1) / plan.length) * 99);
        await records.update(p.uploadId, { variants: made, progress }, { unless: ['done'] });
        await ctx.progress(progress);
        if (deps.stepDelayMs && i < plan.length - 1) await sleep(deps.stepDelayMs, undefined, { signal: ctx.signal });
      }
      await records.update(p.uploadId, { status: 'done', progress: 100, variants: made });
      await ctx.progress(100);
      await records.clearError(p.uploadId);
      ctx.log.info({ uploadId: p.uploadId, variants: made.length }, 'upload.done');
      if (p.callbackUrl) {
        const callbackUrl = p.callbackUrl;
        await ctx.step('webhook', async () => {
          // Marked before the enqueue, so a fast delivery's `delivered` is never overwritten.
          await records.update(p.uploadId, { webhook: 'pending' });
          const job = await producer.enqueue(
            'webhook.deliver',
            {
              url: callbackUrl,
              event: 'upload.completed',
              subjectId: p.uploadId,
              body: {
                uploadId: p.uploadId,
                status: 'done',
                statusPath: `/uploads/${p.uploadId}`,
                variants: made.map((v) => ({
                  name: v.name,
                  format: v.format,
                  width: v.width,
                  height: v.height,
                  bytes: v.bytes,
                  path: `/uploads/${p.uploadId}/variants/${v.name}`,
                })),
              },
            },
            ctx.job.requestId ? { requestId: ctx.job.requestId } : {},
          );
          return job.jobId;
        });
      }
      return { variants: made.map((v) => v.name) };
    } catch (err) {
      // Handed back at shutdown: not a failure, and another worker may own the upload already.
      if (!(ctx.signal.aborted && ctx.signal.reason instanceof WorkerShuttingDownError)) {
        const code = (err as { code?: unknown }).code;
        await records
          .update(
            p.uploadId,
            {
              status: 'failed',
              error: {
                code: typeof code === 'string' ? code : 'JOB_FAILED',
                message: (err as Error).message?.slice(0, 300) ?? 'failed',
              },
            },
            { unless: ['done', 'dead'] },
          )
          .catch(() => {});
      }
      throw err;
    }
  };
}
