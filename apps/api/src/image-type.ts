import type { ImageFormat } from '@bullpen/uploads';

const ascii = (buf: Buffer, start: number, end: number) => buf.subarray(start, end).toString('latin1');

/**
 * The image format from the file's first bytes (its magic number), whatever its name or Content-Type
 * claim. Undefined for anything that is not a JPEG, PNG, WebP, GIF, AVIF or TIFF.
 */
export function sniffImageType(head: Buffer): ImageFormat | undefined {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (head.length >= 8 && head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    return 'png';
  }
  if (head.length >= 6 && (ascii(head, 0, 6) === 'GIF87a' || ascii(head, 0, 6) === 'GIF89a')) return 'gif';
  if (head.length >= 12 && ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WEBP') return 'webp';
  if (head.length >= 4) {
    const sig = head.subarray(0, 4);
    // II*\0 and MM\0* (classic TIFF), II+\0 and MM\0+ (BigTIFF).
    if (
      sig.equals(Buffer.from([0x49, 0x49, 0x2a, 0x00])) ||
      sig.equals(Buffer.from([0x4d, 0x4d, 0x00, 0x2a])) ||
      sig.equals(Buffer.from([0x49, 0x49, 0x2b, 0x00])) ||
      sig.equals(Buffer.from([0x4d, 0x4d, 0x00, 0x2b]))
    ) {
      return 'tiff';
    }
  }
  if (head.length >= 12 && ascii(head, 4, 8) === 'ftyp') {
    // ISO-BMFF: the major brand, then (up to the box's end) the compatible brands.
    const boxEnd = Math.min(head.readUInt32BE(0), head.length);
    const brands = [ascii(head, 8, 12)];
    for (let i = 16; i + 4 <= boxEnd; i += 4) brands.push(ascii(head, i, i + 4));
    if (brands.includes('avif') || brands.includes('avis')) return 'avif';
  }
  return undefined;
}

/** The Content-Type of each format. */
export const MIME_TYPES: Record<ImageFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  avif: 'image/avif',
  tiff: 'image/tiff',
};
