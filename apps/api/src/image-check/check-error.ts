import type { IImage } from 'image-size/types/interface';

/**
 * What a door check found wrong with an image, in the API's own words:
 * - `header`: the header that gives the dimensions cannot be read;
 * - `truncated`: the file ends before its format says it does (a cut upload);
 * - `damaged`: a length, offset, checksum or required part is wrong;
 * - `unsupported`: well-formed, but a variant of the format the decoder cannot read (12-bit JPEG, say).
 *
 * `message` is for the log (what and where); the answer says only the kind.
 */
export class ImageCheckError extends Error {
  override readonly name = 'ImageCheckError';
  constructor(
    readonly kind: 'header' | 'truncated' | 'damaged' | 'unsupported',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const truncated = (message: string) => new ImageCheckError('truncated', message);
export const damaged = (message: string) => new ImageCheckError('damaged', message);
export const unsupported = (message: string) => new ImageCheckError('unsupported', message);

export interface ImageSize {
  width: number;
  height: number;
}

/**
 * Called by a check as soon as it has read the header, before it reads the rest of the file: the caller
 * refuses there what is too large (a decompression bomb) by throwing.
 */
export type OnHeader = (size: ImageSize) => void;

/** An image's size as displayed: EXIF orientations 5 to 8 (and an AVIF `irot` of 90° or 270°) swap the sides. */
export const displayed = (size: ImageSize, transposed: boolean): ImageSize =>
  transposed ? { width: size.height, height: size.width } : size;

/** EXIF orientations 5 to 8 turn the image by 90° or 270°. */
export const transposes = (orientation: number | undefined) =>
  orientation !== undefined && orientation >= 5 && orientation <= 8;

const isDimension = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

/**
 * The dimensions `image-size` reads from `header`: only the bytes a check has located as the header, never the
 * whole file (some of its readers walk byte by byte through whatever they are given).
 */
export function headerSize(reader: IImage, header: Buffer, format: string): ImageSize {
  let size: ImageSize;
  try {
    size = reader.calculate(header);
  } catch (err) {
    throw new ImageCheckError('header', `${format}: image-size cannot read the header`, { cause: err });
  }
  if (!isDimension(size.width) || !isDimension(size.height)) {
    throw new ImageCheckError('header', `${format}: the header has no dimensions`);
  }
  return { width: size.width, height: size.height };
}

/**
 * The most segments, chunks, boxes or blocks a check walks in one file: far more than any real image has (an
 * animated GIF of 10,000 frames has 20,000 blocks), and a bound on the time a crafted file of tiny parts takes.
 */
export const MAX_PARTS = 100_000;
