import { jobIdFor } from '@bullpen/jobs';
import type { Storage } from '@bullpen/storage';
import { imageResize } from './jobs.ts';

const dir = (uploadId: string) => `uploads/${uploadId}`;
const original = (uploadId: string) => `originals/${uploadId}`;

/** Storage keys of an upload. Made from the server-generated upload id, never from user input. */
export const uploadKeys = {
  /** The folder of one upload's variants. */
  dir,
  /**
   * The original, as received: `originals/<id>`, flat in one folder, so that storing it makes no folder per
   * upload. Uploads stored before kept theirs in their folder (`uploads/<id>/original`); records and job
   * payloads name the key (`originalKey`), so both resolve.
   */
  original,
  /** One variant, e.g. `uploads/<id>/512.webp`. Deterministic: a redelivered job writes the same key. */
  variant: (uploadId: string, variantName: string) => `uploads/${uploadId}/${variantName}`,
  /**
   * Everything an upload owns in storage, for deleting it: the folder of its variants (where an upload stored
   * before the flat originals also kept its original) and its original.
   */
  owned: (uploadId: string) => ({ prefixes: [dir(uploadId)], keys: [original(uploadId)] }),
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

/** Deletes everything an upload owns in storage (`uploadKeys.owned`): its variants' folder and its original. */
export async function deleteUploadFiles(storage: Storage, uploadId: string): Promise<void> {
  const { prefixes, keys } = uploadKeys.owned(uploadId);
  await Promise.all([...prefixes.map((p) => storage.deletePrefix(p)), ...keys.map((k) => storage.delete(k))]);
}
