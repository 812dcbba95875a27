import { readIfd, readTiffLayout, TAG_ORIENTATION, uintValues } from './tiff-ifd.ts';

const WANTED = new Set([TAG_ORIENTATION]);

/**
 * The orientation (1-8) in an EXIF block (a TIFF structure, optionally after `Exif\0\0`), or undefined when it
 * has none or cannot be read: a broken EXIF block never refuses an image, as decoders ignore it too.
 */
export function exifOrientation(exif: Buffer): number | undefined {
  try {
    const tiff = exif.toString('latin1', 0, 6) === 'Exif\0\0' ? exif.subarray(6) : exif;
    const layout = readTiffLayout(tiff);
    const entry = readIfd(tiff, layout, layout.firstIfd, WANTED).tags.get(TAG_ORIENTATION);
    const value = entry?.count === 1 ? uintValues(tiff, layout, entry)(0) : undefined;
    return value !== undefined && value >= 1 && value <= 8 ? value : undefined;
  } catch {
    return undefined;
  }
}
