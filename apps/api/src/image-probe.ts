import type { StagedObject } from '@bullpen/storage';
import type { ImageFormat } from '@bullpen/uploads';
import { ApiError } from './errors.ts';
import { checkAvif } from './image-check/avif.ts';
import { ImageCheckError, type ImageSize, type OnHeader } from './image-check/check-error.ts';
import { checkGif } from './image-check/gif.ts';
import { checkJpeg } from './image-check/jpeg.ts';
import { checkPng } from './image-check/png.ts';
import { checkTiff } from './image-check/tiff.ts';
import { checkWebp } from './image-check/webp.ts';

export interface ProbedImage {
  format: ImageFormat;
  /** Width and height as displayed (EXIF orientation, or AVIF's `irot`, applied). */
  width: number;
  height: number;
}

const CHECKS: Record<ImageFormat, (bytes: Buffer, onHeader: OnHeader) => ImageSize> = {
  jpeg: checkJpeg,
  png: checkPng,
  gif: checkGif,
  webp: checkWebp,
  avif: checkAvif,
  tiff: checkTiff,
};

const MESSAGES: Record<ImageCheckError['kind'], string> = {
  header: 'The image header cannot be read',
  truncated: 'The image is truncated',
  damaged: 'The image data is damaged',
  unsupported: 'The image uses a variant of its format that cannot be decoded',
};

/**
 * The door check of an uploaded image's bytes, without decoding a pixel: its header's dimensions (over
 * `maxPixels` refused before the rest of the file is read: decompression bombs), then its structure as its
 * format defines it (segments, chunks, boxes or IFDs within the file, checksums, end-of-image marker), so a
 * truncated or broken file is refused here. Damage inside compressed data is the worker's to find when it
 * decodes (IMAGE_CORRUPT, dead-lettered at once). Answers name only what is wrong; the check's details
 * (offsets, what it expected) go to the log as the error's `cause`.
 */
export function checkImage(bytes: Buffer, format: ImageFormat, maxPixels: number): ProbedImage {
  const refuseBombs: OnHeader = ({ width, height }) => {
    if (width * height > maxPixels) {
      throw new ApiError(
        'UPLOAD_TOO_MANY_PIXELS',
        `The image is ${width}x${height} pixels; at most ${maxPixels} pixels are allowed`,
      );
    }
  };
  try {
    const { width, height } = CHECKS[format](bytes, refuseBombs);
    return { format, width, height };
  } catch (err) {
    if (err instanceof ImageCheckError) throw new ApiError('UPLOAD_CORRUPT', MESSAGES[err.kind], {}, { cause: err });
    // A read past the end of the bytes that a check did not foresee: the file is not what its format says.
    if (err instanceof RangeError) throw new ApiError('UPLOAD_CORRUPT', MESSAGES.damaged, {}, { cause: err });
    throw err;
  }
}

/** `checkImage` of a staged upload's bytes (whole: every format's structure check reads most of them). */
export async function probeImage(staged: StagedObject, format: ImageFormat, maxPixels: number): Promise<ProbedImage> {
  return checkImage(await staged.bytes(), format, maxPixels);
}
