import { HEIF } from 'image-size/types/heif';
import { damaged, displayed, headerSize, type ImageSize, MAX_PARTS, type OnHeader, truncated } from './check-error.ts';

/** A box type as the big-endian 32-bit number it reads as. */
const boxType = (s: string) => Buffer.from(s, 'latin1').readUInt32BE(0);
const FTYP = boxType('ftyp');
const META = boxType('meta');
const ILOC = boxType('iloc');
const IDAT = boxType('idat');
const PITM = boxType('pitm');
const IPRP = boxType('iprp');
const IPCO = boxType('ipco');
const IPMA = boxType('ipma');
const IROT = boxType('irot');

interface Box {
  type: number;
  /** Where the box's payload starts (after its header) and where the box ends. */
  start: number;
  end: number;
}

/** The box at `pos`, which must end by `limit`; `past` makes the error when it does not. */
function readBox(b: Buffer, pos: number, limit: number, past: (message: string) => Error): Box {
  if (pos + 8 > limit) throw past(`AVIF: a box header at ${pos} past its container`);
  const size32 = b.readUInt32BE(pos);
  const type = b.readUInt32BE(pos + 4);
  let size = size32;
  let header = 8;
  if (size32 === 1) {
    if (pos + 16 > limit) throw past(`AVIF: a box header at ${pos} past its container`);
    const big = b.readBigUInt64BE(pos + 8);
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw damaged('AVIF: a box size past 2^53');
    size = Number(big);
    header = 16;
  } else if (size32 === 0) {
    size = limit - pos; // to the end of its container
  }
  if (size < header) throw damaged(`AVIF: box size at ${pos}`);
  if (pos + size > limit) throw past(`AVIF: the box at ${pos} ends past its container`);
  return { type, start: pos + header, end: pos + size };
}

function children(b: Buffer, start: number, end: number): Box[] {
  const out: Box[] = [];
  for (let pos = start; pos < end; ) {
    if (out.length > MAX_PARTS) throw damaged('AVIF: too many boxes');
    const box = readBox(b, pos, end, damaged);
    out.push(box);
    pos = box.end;
  }
  return out;
}

/**
 * The door check of an AVIF: its size (the `ispe` properties, read by image-size from the `meta` box; the primary
 * item's `irot` applied, as libheif applies it) and its ISO-BMFF structure: `ftyp` first, top-level boxes that tile the
 * file exactly (a cut file leaves its last box short), a `meta` box whose items' data (`iloc` extents) lies within the
 * file (a file cut at a box boundary loses its `mdat`).
 */
export function checkAvif(b: Buffer, onHeader: OnHeader): ImageSize {
  let meta: Box | undefined;
  let size: ImageSize | undefined;
  for (let pos = 0, parts = 0; pos < b.length; parts++) {
    if (parts > MAX_PARTS) throw damaged('AVIF: too many boxes');
    const box = readBox(b, pos, b.length, truncated);
    if (pos === 0 && box.type !== FTYP) throw damaged('AVIF: ftyp is not the first box');
    if (box.type === META) {
      if (meta) throw damaged('AVIF: two meta boxes');
      meta = box;
      // Every box up to here is whole: image-size walks them to the meta box and reads no further.
      size = headerSize(HEIF, b.subarray(0, box.end), 'AVIF');
      onHeader(size);
    }
    pos = box.end;
  }
  if (!meta || !size) throw damaged('AVIF: no meta box');
  // meta is a FullBox: version and flags, then its boxes.
  const boxes = children(b, meta.start + 4, meta.end);
  const find = (list: Box[], type: number) => list.find((x) => x.type === type);
  const iloc = find(boxes, ILOC);
  if (!iloc) throw damaged('AVIF: no iloc box');
  checkItemLocations(b, iloc, find(boxes, IDAT));
  const pitm = find(boxes, PITM);
  const iprp = find(boxes, IPRP);
  if (!pitm || !iprp) return size;
  const pr = fieldReader(b, pitm);
  const pitmVersion = pr.uint(1);
  pr.uint(3); // flags
  const primary = pr.uint(pitmVersion === 0 ? 2 : 4);
  const props = children(b, iprp.start, iprp.end);
  const ipco = find(props, IPCO);
  const ipma = find(props, IPMA);
  if (!ipco || !ipma) return size;
  const properties = children(b, ipco.start, ipco.end);
  // irot: the low two bits are the anticlockwise turn in quarters; 1 and 3 swap width and height.
  const transposed = propertiesOf(b, ipma, primary).some((i) => {
    const p = properties[i - 1];
    return p?.type === IROT && p.end > p.start && (b[p.start]! & 1) === 1;
  });
  return displayed(size, transposed);
}

/** A reader of the big-endian fields of one box, which refuses to read past its end. */
function fieldReader(b: Buffer, box: Box, pos = box.start) {
  return {
    uint(size: number): number {
      if (size > 8) throw damaged('AVIF: field size');
      if (pos + size > box.end) throw damaged(`AVIF: a box at ${box.start} is too short`);
      let v = 0;
      for (let i = 0; i < size; i++) v = v * 256 + b[pos + i]!;
      pos += size;
      if (v > Number.MAX_SAFE_INTEGER) throw damaged('AVIF: a value past 2^53');
      return v;
    },
  };
}

/** ISO/IEC 14496-12 `iloc`: every extent of an item stored in this file or in `idat` lies within it. */
function checkItemLocations(b: Buffer, iloc: Box, idat: Box | undefined): void {
  const r = fieldReader(b, iloc);
  const version = r.uint(1);
  r.uint(3); // flags
  const sizes = r.uint(1);
  const offsetSize = sizes >> 4;
  const lengthSize = sizes & 15;
  const sizes2 = r.uint(1);
  const baseOffsetSize = sizes2 >> 4;
  const indexSize = version === 1 || version === 2 ? sizes2 & 15 : 0;
  const items = r.uint(version < 2 ? 2 : 4);
  // Extents of zero-byte fields take no room: count them, or a small box could claim billions.
  let parts = 0;
  for (let i = 0; i < items; i++) {
    r.uint(version < 2 ? 2 : 4); // item_ID
    const method = version === 1 || version === 2 ? r.uint(2) & 15 : 0;
    const dataReference = r.uint(2);
    const base = r.uint(baseOffsetSize);
    const extents = r.uint(2);
    parts += extents + 1;
    if (parts > MAX_PARTS) throw damaged('AVIF: too many item extents');
    for (let e = 0; e < extents; e++) {
      r.uint(indexSize);
      const offset = base + r.uint(offsetSize);
      const length = r.uint(lengthSize);
      // Method 0 in this file (data reference 0), method 1 in idat; method 2 (other items) is checked there.
      if (method === 0 && dataReference === 0 && offset + length > b.length) {
        throw truncated('AVIF: image data past the end of the file');
      }
      if (method === 1 && (!idat || offset + length > idat.end - idat.start)) throw damaged('AVIF: idat extent');
    }
  }
}

/** The 1-based property indices `ipma` associates with `item`. */
function propertiesOf(b: Buffer, ipma: Box, item: number): number[] {
  const r = fieldReader(b, ipma);
  const version = r.uint(1);
  const flags = r.uint(3);
  const entries = r.uint(4);
  for (let i = 0; i < entries; i++) {
    const id = r.uint(version < 1 ? 2 : 4);
    const count = r.uint(1);
    const indices: number[] = [];
    for (let a = 0; a < count; a++) indices.push(flags & 1 ? r.uint(2) & 0x7fff : r.uint(1) & 0x7f);
    if (id === item) return indices;
  }
  return [];
}
