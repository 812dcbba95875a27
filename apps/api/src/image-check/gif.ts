import { GIF } from 'image-size/types/gif';
import { damaged, headerSize, type ImageSize, MAX_PARTS, type OnHeader, truncated } from './check-error.ts';

const IMAGE = 0x2c;
const EXTENSION = 0x21;
const TRAILER = 0x3b;

/** The bytes of a colour table whose flag and size are in `packed` (bit 7, bits 0-2). */
const colourTable = (packed: number) => (packed & 0x80 ? 3 << ((packed & 7) + 1) : 0);

/**
 * The door check of a GIF: its size (the logical screen, read by image-size) and its structure. Walks the blocks to its
 * trailer (`;`): every colour table, image descriptor and chain of data sub-blocks within the file, at least one image,
 * an LZW code size a decoder takes. A file that ends before the trailer is truncated; an unknown block is damaged.
 */
export function checkGif(b: Buffer, onHeader: OnHeader): ImageSize {
  const n = b.length;
  if (n < 13) throw truncated('GIF: no logical screen descriptor');
  const size = headerSize(GIF, b.subarray(0, 13), 'GIF');
  onHeader(size);
  let pos = 13 + colourTable(b[10]!);
  let images = 0;
  for (let parts = 0; ; parts++) {
    if (parts > MAX_PARTS) throw damaged('GIF: too many blocks');
    if (pos >= n) throw truncated('GIF: the file ends before its trailer');
    const block = b[pos]!;
    if (block === TRAILER) {
      if (images === 0) throw damaged('GIF: no image');
      return size;
    }
    if (block === IMAGE) {
      if (pos + 11 > n) throw truncated('GIF: an image descriptor past the end');
      pos += 10 + colourTable(b[pos + 9]!);
      if (pos >= n) throw truncated('GIF: an image past the end');
      // LZW codes are at most 12 bits wide, the first one a bit more than this.
      if (b[pos]! > 11) throw damaged('GIF: LZW code size');
      pos = skipSubBlocks(b, pos + 1);
      images++;
    } else if (block === EXTENSION) {
      pos = skipSubBlocks(b, pos + 2);
    } else {
      throw damaged(`GIF: block 0x${block.toString(16)} at ${pos}`);
    }
  }
}

/** Follows a chain of data sub-blocks (a length byte, that many bytes) to its empty terminator. */
function skipSubBlocks(b: Buffer, pos: number): number {
  const n = b.length;
  for (;;) {
    if (pos >= n) throw truncated('GIF: a data block past the end');
    const size = b[pos]!;
    pos += 1 + size;
    if (size === 0) return pos;
  }
}
