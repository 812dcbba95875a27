import { crc32 } from 'node:zlib';
import { PNG } from 'image-size/types/png';
import {
  damaged,
  displayed,
  headerSize,
  type ImageSize,
  MAX_PARTS,
  type OnHeader,
  transposes,
  truncated,
  unsupported,
} from './check-error.ts';
import { exifOrientation } from './exif-orientation.ts';

const IHDR = 0x49484452;
const IDAT = 0x49444154;
const IEND = 0x49454e44;
const EXIF = 0x65584966; // eXIf

/** Bit depths allowed per colour type (PNG spec, 11.2.2). */
const DEPTHS: Record<number, number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};

const isLetter = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

/**
 * The door check of a PNG: its size (IHDR, read by image-size; an `eXIf` chunk's orientation applied, as libvips
 * applies it) and its structure. Walks the chunks: each one's length within the file and its CRC-32 right (what the old
 * small decode caught and a header read does not: a damaged byte anywhere), IHDR first and sane, at least one IDAT,
 * IEND reached (else truncated). Bytes after IEND are ignored, as libpng ignores them.
 */
export function checkPng(b: Buffer, onHeader: OnHeader): ImageSize {
  const n = b.length;
  let pos = 8;
  let idat = false;
  let size: ImageSize | undefined;
  let orientation: number | undefined;
  for (let index = 0; ; index++) {
    if (index > MAX_PARTS) throw damaged('PNG: too many chunks');
    if (pos + 12 > n) throw truncated('PNG: the file ends before its IEND chunk');
    const len = b.readUInt32BE(pos);
    const type = b.readUInt32BE(pos + 4);
    if (len > 0x7fffffff) throw damaged(`PNG: chunk length at ${pos}`);
    for (let i = 4; i < 8; i++) if (!isLetter(b[pos + i]!)) throw damaged(`PNG: chunk type at ${pos}`);
    const end = pos + 12 + len;
    if (end > n) throw truncated(`PNG: chunk at ${pos} ends past the end of the file`);
    if (crc32(b.subarray(pos + 4, end - 4)) !== b.readUInt32BE(end - 4)) throw damaged(`PNG: CRC of chunk at ${pos}`);
    const data = pos + 8;
    if (index === 0) {
      if (type !== IHDR) throw unsupported('PNG: the first chunk is not IHDR (an Apple CgBI PNG?)');
      checkHeader(b, data, len);
      size = headerSize(PNG, b.subarray(0, end), 'PNG');
      onHeader(size);
    } else if (type === IHDR) {
      throw damaged('PNG: a second IHDR');
    } else if (type === IDAT) {
      idat = true;
    } else if (type === EXIF) {
      orientation = exifOrientation(b.subarray(data, data + len));
    } else if (type === IEND) {
      if (!idat || !size) throw damaged('PNG: no IDAT chunk');
      return displayed(size, transposes(orientation));
    }
    pos = end;
  }
}

function checkHeader(b: Buffer, data: number, len: number): void {
  if (len !== 13) throw damaged('PNG: IHDR length');
  const depth = b[data + 8]!;
  const colour = b[data + 9]!;
  if (!DEPTHS[colour]?.includes(depth)) throw damaged('PNG: colour type and bit depth');
  // Compression and filter method 0, interlace 0 (none) or 1 (Adam7): the only ones defined.
  if (b[data + 10] !== 0 || b[data + 11] !== 0 || b[data + 12]! > 1) throw damaged('PNG: IHDR methods');
}
