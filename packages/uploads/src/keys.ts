import { jobIdFor } from '@bullpen/jobs';
import { imageResize } from './jobs.ts';

/** Storage keys of an upload. Made from the server-generated upload id, never from user input. */
export const uploadKeys = {
  /** The folder of one upload. */
  dir: (uploadId: string) => `uploads/${uploadId}`,
  /** The original, as received. */
  original: (uploadId: string) => `uploads/${uploadId}/original`,
  /** One variant, e.g. `uploads/<id>/512.webp`. Deterministic: a redelivered job writes the same key. */
  variant: (uploadId: string, variantName: string) => `uploads/${uploadId}/${variantName}`,
};

/** A variant's name: `<width>.<format>`, e.g. `512.webp`. */
export const variantName = (width: number, format: string) => `${width}.${format}`;

/** The id of an upload's `image.resize` job (its idempotency key is the upload id). */
export const resizeJobId = (uploadId: string) => jobIdFor(imageResize.name, uploadId);

/** The upload a job of this domain is about: `image.resize`'s `uploadId`, or an `upload.*` webhook's subject. */
export function uploadIdOf(payload: unknown): string | undefined {
  if (typeof payload !== 'object' || payload === null) return undefined;
  const p = payload as { uploadId?: unknown; event?: unknown; subjectId?: unknown };
  if (typeof p.uploadId === 'string') return p.uploadId;
  if (typeof p.event === 'string' && p.event.startsWith('upload.') && typeof p.subjectId === 'string')
    return p.subjectId;
  return undefined;
}
