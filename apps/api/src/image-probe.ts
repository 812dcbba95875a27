import type { ImageFormat } from '@bullpen/uploads';
import sharp from 'sharp';
import { ApiError } from './errors.ts';

export interface ProbedImage {
  format: ImageFormat;
  /** Width and height as displayed (EXIF orientation applied). */
  width: number;
  height: number;
}

/** What sharp calls each format (AVIF is decoded by the HEIF loader). */
const SHARP_FORMATS: Record<ImageFormat, string[]> = {
  jpeg: ['jpeg'],
  png: ['png'],
  webp: ['webp'],
  gif: ['gif'],
  avif: ['heif', 'avif'],
  tiff: ['tiff'],
};

/**
 * Checks a staged image: its header first (dimensions, refused over `maxPixels` before a single pixel is
 * decoded: decompression bombs), then a small decode of the whole file, so a truncated or corrupt image
 * is refused here rather than failing five times in a worker. The answer says what is wrong in its own words;
 * libvips' text (which may quote the file) goes to the log only, as the error's `cause`.
 */
export async function probeImage(path: string, sniffed: ImageFormat, maxPixels: number): Promise<ProbedImage> {
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  try {
    meta = await sharp(path, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new ApiError('UPLOAD_CORRUPT', 'The image header cannot be read', {}, { cause: err });
  }
  if (!SHARP_FORMATS[sniffed].includes(meta.format) || !meta.width || !meta.height) {
    throw new ApiError('UPLOAD_CORRUPT', 'The image header is inconsistent with its type');
  }
  if (meta.width * meta.height > maxPixels) {
    throw new ApiError(
      'UPLOAD_TOO_MANY_PIXELS',
      `The image is ${meta.width}x${meta.height} pixels; at most ${maxPixels} pixels are allowed`,
    );
  }
  try {
    // Shrink-on-load keeps this cheap for JPEG and WebP; every format is still read to its end.
    await sharp(path, { failOn: 'truncated', limitInputPixels: maxPixels })
      .resize(32, 32, { fit: 'inside' })
      .raw()
      .toBuffer();
  } catch (err) {
    throw new ApiError('UPLOAD_CORRUPT', 'The image data is truncated or damaged', {}, { cause: err });
  }
  const oriented = meta.autoOrient ?? { width: meta.width, height: meta.height };
  return { format: sniffed, width: oriented.width, height: oriented.height };
}
