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
