import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type CancelledJob,
  type DeadLetter,
  type Handler,
  isDiskFull,
  JobCancelledError,
  type JobContext,
  JobPostponedError,
  type Payload,
  type PostponeOptions,
  type Producer,
  WorkerShuttingDownError,
} from '@bullpen/jobs';
import { ObjectNotFoundError, type Storage, StorageFullError } from '@bullpen/storage';
import {
  type AppRegistry,
  type ImageFormat,
  type UploadRecords,
  uploadCompletedWebhook,
  uploadFailedWebhook,
  uploadKeys,
  type VariantInfo,
  variantName,
} from '@bullpen/uploads';
import sharp from 'sharp';
import { ImageCorruptError, ImageOriginalMissingError } from '../errors.ts';

type ResizePayload = Payload<AppRegistry, 'image.resize'>;

export interface ImageResizeDeps {
  storage: Storage;
  records: UploadRecords;
  producer: Producer<AppRegistry>;
  /** Test only: pause between variants (WORKER_TEST_STEP_DELAY_MS). */
  stepDelayMs?: number;
  /**
   * A full disk is not the job's fault: the job is postponed (no attempt spent) after `delayMs`, doubling up
   * to `maxDelayMs`, for at most `windowMs`, so an operator has time to free space (WORKER_STORAGE_FULL_*).
   */
  storageFull: Pick<PostponeOptions, 'delayMs' | 'maxDelayMs' | 'windowMs'>;
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

function render(original: Buffer, v: PlannedVariant, failOn: 'warning' | 'truncated') {
  const img = sharp(original, { failOn, autoOrient: true }).resize({ width: v.width, withoutEnlargement: true });
  return encode(img, v.format).toBuffer({ resolveWithObject: true });
}

/** Decoder warnings that mean damaged data (garbage mid-scan, a cut file), not a quirk of the encoder. */
const DAMAGED =
  /Corrupt JPEG data: (premature end of data segment|bad Huffman code|bad arithmetic code|found marker)|Premature end of JPEG|Invalid JPEG file structure|Inconsistent progression/i;
/** Failures of the machine, not of the file: retried as usual. */
const NOT_THE_FILE = /out of memory|cannot allocate|memory allocation failed/i;
const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * Decodes and encodes one variant. Strict first (`failOn: 'warning'`: the only level that sees garbage in
 * the middle of a JPEG); when that refuses, leniently (`'truncated'`). A file that fails both, or whose strict
 * failure names damaged data, is IMAGE_CORRUPT: it can never decode, whatever the retry. One that only a
 * benign warning stopped (4 extraneous bytes before a marker, as many cameras write) is made from the lenient
 * decode. Lossy WebP has no such signal: garbage in its middle decodes under every level.
 */
async function decodeVariant(original: Buffer, v: PlannedVariant) {
  try {
    return await render(original, v, 'warning');
  } catch (strict) {
    if (NOT_THE_FILE.test(messageOf(strict))) throw strict;
    let lenient: Awaited<ReturnType<typeof render>>;
    try {
      lenient = await render(original, v, 'truncated');
    } catch (err) {
      if (NOT_THE_FILE.test(messageOf(err))) throw err;
      throw new ImageCorruptError(err);
    }
    if (DAMAGED.test(messageOf(strict))) throw new ImageCorruptError(strict);
    return lenient;
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
  signal: AbortSignal,
): Promise<VariantInfo> {
  const { data, info } = await decodeVariant(original, v);
  // Cancelled (or timed out) while decoding: nothing more is written for an upload being deleted.
  signal.throwIfAborted();
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
      await records.update(p.uploadId, { status: 'processing' }, { unless: ['done', 'cancelled'] });
      const original = await storage.get(p.originalKey).catch((err) => {
        throw err instanceof ObjectNotFoundError ? new ImageOriginalMissingError(p.originalKey) : err;
      });
      const plan = planVariants(p);
      const made: VariantInfo[] = [];
      for (const [i, v] of plan.entries()) {
        // A redelivered or replayed job gets the stored result: a finished variant is never redone.
        made.push(
          await ctx.step(`variant:${v.name}`, () => renderVariant(original, p.uploadId, v, storage, ctx.signal)),
        );
        const progress = Math.floor(((i + 1) / plan.length) * 99);
        await records.update(p.uploadId, { variants: made, progress }, { unless: ['done', 'cancelled'] });
        await ctx.progress(progress);
        if (deps.stepDelayMs && i < plan.length - 1) await sleep(deps.stepDelayMs, undefined, { signal: ctx.signal });
      }
      // A cancelled upload stays cancelled (its files are being deleted).
      const finished = await records.update(
        p.uploadId,
        { status: 'done', progress: 100, variants: made },
        { unless: ['cancelled'] },
      );
      if (!finished) return { cancelled: true };
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
            uploadCompletedWebhook(callbackUrl, p.uploadId, made),
            ctx.job.requestId ? { requestId: ctx.job.requestId } : {},
          );
          return job.jobId;
        });
      }
      return { variants: made.map((v) => v.name) };
    } catch (caught) {
      const err = isDiskFull(caught)
        ? new StorageFullError('The storage is full: a variant could not be written', { cause: caught })
        : caught;
      // Handed back at shutdown or cancelled: not a failure (another worker may own the upload already, or it is
      // being deleted).
      const stopped =
        ctx.signal.aborted &&
        (ctx.signal.reason instanceof WorkerShuttingDownError || ctx.signal.reason instanceof JobCancelledError);
      if (!stopped) {
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
            { unless: ['done', 'dead', 'cancelled'] },
          )
          .catch(() => {});
      }
      if (err instanceof StorageFullError) {
        throw new JobPostponedError('The storage is full; the job waits for space', {
          ...deps.storageFull,
          cause: err,
        });
      }
      throw err;
    }
  };
}

/** When an upload's running job was cancelled (by `DELETE /uploads/:id` or an operator): the upload says so. */
export function imageResizeCancelled(deps: Pick<ImageResizeDeps, 'records'>) {
  return async (cancelled: CancelledJob<ResizePayload>) => {
    await deps.records.update(cancelled.payload.uploadId, { status: 'cancelled' }, { unless: ['done', 'cancelled'] });
  };
}

/** When an upload's job is dead: the upload says so, and its callback (if any) gets `upload.failed`. */
export function imageResizeDeadLetter(deps: Pick<ImageResizeDeps, 'records' | 'producer'>) {
  return async (letter: DeadLetter<ResizePayload>) => {
    const p = letter.payload;
    await deps.records.update(
      p.uploadId,
      { status: 'dead', error: { code: letter.code, message: letter.error.message.slice(0, 300) } },
      { unless: ['done', 'cancelled'] },
    );
    if (p.callbackUrl) {
      await deps.producer.enqueue(
        'webhook.deliver',
        uploadFailedWebhook(p.callbackUrl, p.uploadId, letter.code),
        letter.meta.requestId ? { requestId: letter.meta.requestId } : {},
      );
    }
  };
}
