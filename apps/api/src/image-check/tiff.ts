import { TIFF } from 'image-size/types/tiff';
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
import { type Ifd, readIfd, readTiffLayout, TAG_ORIENTATION, type TiffLayout, uintValues } from './tiff-ifd.ts';

const STRIP_OFFSETS = 273;
const STRIP_BYTE_COUNTS = 279;
const TILE_OFFSETS = 324;
const TILE_BYTE_COUNTS = 325;
const WANTED = new Set([STRIP_OFFSETS, STRIP_BYTE_COUNTS, TILE_OFFSETS, TILE_BYTE_COUNTS, TAG_ORIENTATION]);
/** More pages than anyone uploads; a longer chain is refused rather than walked. */
const MAX_IFDS = 1000;

/**
 * The door check of a TIFF: its size (IFD0, read by image-size; its orientation tag applied, as libvips applies
 * it) and its structure: the chain of IFDs each within the file and without a loop, every entry's value within
 * the file, and every page's strips or tiles (offset and byte count) within the file: what a cut TIFF loses
 * (libtiff writes the pixel data, then the IFD, then the values that do not fit in it).
 */
export function checkTiff(b: Buffer, onHeader: OnHeader): ImageSize {
  const layout = readTiffLayout(b);
  const seen = new Set<number>();
  let size: ImageSize | undefined;
  let orientation: number | undefined;
  // IFD entries read and strip or tile ranges checked: IFDs may overlap, so the file's length does not bound them.
  const budget = { ranges: MAX_PARTS * 10, entries: MAX_PARTS * 10 };
  for (let at = layout.firstIfd; at !== 0; ) {
    if (seen.has(at)) throw damaged('TIFF: the IFD chain loops');
    if (seen.size >= MAX_IFDS) throw damaged('TIFF: too many IFDs');
    seen.add(at);
    const ifd = readIfd(b, layout, at, WANTED, { checkValues: true, budget });
    if (!size) {
      // image-size reads IFD0's entries from its offset: hand it the file up to IFD0's end, no further.
      size = headerSize(TIFF, b.subarray(0, ifd.end), 'TIFF');
      onHeader(size);
      const o = ifd.tags.get(TAG_ORIENTATION);
      if (o?.count === 1) orientation = uintValues(b, layout, o)(0);
    }
    const strips = checkRanges(b, layout, ifd, STRIP_OFFSETS, STRIP_BYTE_COUNTS, budget);
    const tiles = checkRanges(b, layout, ifd, TILE_OFFSETS, TILE_BYTE_COUNTS, budget);
    if (seen.size === 1 && !strips && !tiles) throw damaged('TIFF: the first page has neither strips nor tiles');
    at = ifd.next;
  }
  if (!size) throw damaged('TIFF: no IFD');
  return displayed(size, transposes(orientation));
}

/** Whether the page has these offsets; throws when one of its ranges reaches past the end of the file. */
function checkRanges(
  b: Buffer,
  layout: TiffLayout,
  ifd: Ifd,
  offsetsTag: number,
  countsTag: number,
  budget: { ranges: number },
): boolean {
  const offsets = ifd.tags.get(offsetsTag);
  if (!offsets) return false;
  const counts = ifd.tags.get(countsTag);
  budget.ranges -= offsets.count;
  if (budget.ranges < 0) throw damaged('TIFF: too many strips or tiles');
  const offset = uintValues(b, layout, offsets);
  // Without byte counts libtiff estimates them (with a warning): only the offsets can be checked then.
  const count = counts ? uintValues(b, layout, counts) : () => 0;
  const known = counts ? Math.min(counts.count, offsets.count) : 0;
  for (let i = 0; i < offsets.count; i++) {
    if (offset(i) + (i < known ? count(i) : 0) > b.length) throw truncated(`TIFF: strip or tile ${i} past the end`);
  }
  return true;
}
