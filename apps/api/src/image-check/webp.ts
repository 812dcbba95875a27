import { WEBP } from 'image-size/types/webp';
import {
  damaged,
  displayed,
  headerSize,
  type ImageSize,
  MAX_PARTS,
  type OnHeader,
  transposes,
  truncated,
} from './check-error.ts';
import { exifOrientation } from './exif-orientation.ts';

/** A FourCC as the little-endian 32-bit number it reads as. */
const fourcc = (s: string) => Buffer.from(s, 'latin1').readUInt32LE(0);
const VP8 = fourcc('VP8 ');
const VP8L = fourcc('VP8L');
const VP8X = fourcc('VP8X');
const ANMF = fourcc('ANMF');
const EXIF = fourcc('EXIF');

/**
 * The door check of a WebP: its size (the first chunk, read by image-size; an EXIF chunk's orientation applied,
 * as libvips applies it) and its RIFF structure: the RIFF size within the file (a cut file is shorter than its
 * RIFF size says), every chunk within the RIFF, the first one VP8, VP8L or VP8X, and an image in it (a VP8 key
 * frame or a VP8L bitstream whose header libwebp would take, or animation frames that hold one). Bytes after the
 * RIFF are ignored, as libwebp ignores them. Garbage inside a lossy bitstream cannot be seen without decoding, and
 * libwebp decodes it without a sign: such a file is resized as it decodes.
 */
export function checkWebp(b: Buffer, onHeader: OnHeader): ImageSize {
  if (b.length < 30) throw truncated('WebP: no first chunk');
  const riffEnd = 8 + b.readUInt32LE(4);
  if (riffEnd < 30) throw damaged('WebP: RIFF size');
  if (riffEnd > b.length) throw truncated('WebP: the file is shorter than its RIFF size');
  const first = b.readUInt32LE(12);
  if (first !== VP8 && first !== VP8L && first !== VP8X) throw damaged('WebP: the first chunk');
  const size = headerSize(WEBP, b.subarray(0, 30), 'WebP');
  onHeader(size);
  let image = false;
  let orientation: number | undefined;
  walkChunks(b, 12, riffEnd, (type, data, end) => {
    if (type === VP8 || type === VP8L) {
      checkBitstream(b, type, data, end);
      image = true;
    } else if (type === VP8X) {
      if (data !== 20 || end - data < 10) throw damaged('WebP: VP8X chunk');
    } else if (type === ANMF) {
      checkFrame(b, data, end);
      image = true;
    } else if (type === EXIF) {
      orientation = exifOrientation(b.subarray(data, end));
    }
  });
  if (!image) throw damaged('WebP: no image data');
  return displayed(size, transposes(orientation));
}

/**
 * Calls `visit` with each chunk from `pos` to `end` (its FourCC, where its data starts and ends); a chunk that
 * reaches past `end` is damaged. Chunks are padded to an even size; the last one's pad byte may be missing.
 */
function walkChunks(b: Buffer, pos: number, end: number, visit: (type: number, data: number, end: number) => void) {
  for (let parts = 0; pos < end; parts++) {
    if (parts > MAX_PARTS) throw damaged('WebP: too many chunks');
    if (pos + 8 > end) throw damaged(`WebP: a chunk header at ${pos} past its container`);
    const size = b.readUInt32LE(pos + 4);
    const data = pos + 8;
    if (data + size > end) throw damaged(`WebP: the chunk at ${pos} ends past its container`);
    visit(b.readUInt32LE(pos), data, data + size);
    pos = data + size + (size & 1);
  }
}

/** An animation frame: its 16-byte header, then chunks of which one is the frame's bitstream. */
function checkFrame(b: Buffer, data: number, end: number): void {
  if (end - data < 16) throw damaged('WebP: ANMF size');
  let bitstream = false;
  walkChunks(b, data + 16, end, (type, d, e) => {
    if (type === VP8 || type === VP8L) {
      checkBitstream(b, type, d, e);
      bitstream = true;
    }
  });
  if (!bitstream) throw damaged('WebP: an animation frame without a bitstream');
}

/** What libwebp checks of a bitstream's header before decoding it (VP8GetInfo, VP8LGetInfo). */
function checkBitstream(b: Buffer, type: number, data: number, end: number): void {
  const size = end - data;
  if (type === VP8L) {
    // The signature byte, then 14+14 bits of size, an alpha bit and a 3-bit version that must be 0.
    if (size < 5 || b[data] !== 0x2f || b[data + 4]! >> 5 !== 0) throw damaged('WebP: VP8L header');
    return;
  }
  if (size < 10) throw damaged('WebP: VP8 header');
  const tag = b[data]! | (b[data + 1]! << 8) | (b[data + 2]! << 16);
  const keyFrame = (tag & 1) === 0;
  const profile = (tag >> 1) & 7;
  const shown = (tag >> 4) & 1;
  const partition = tag >> 5;
  if (!keyFrame || profile > 3 || !shown || partition >= size) throw damaged('WebP: VP8 frame tag');
  if (b[data + 3] !== 0x9d || b[data + 4] !== 0x01 || b[data + 5] !== 0x2a) throw damaged('WebP: VP8 start code');
  if ((b.readUInt16LE(data + 6) & 0x3fff) === 0 || (b.readUInt16LE(data + 8) & 0x3fff) === 0) {
    throw damaged('WebP: VP8 size');
  }
}
