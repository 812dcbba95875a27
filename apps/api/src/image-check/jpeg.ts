import {
  damaged,
  displayed,
  type ImageSize,
  MAX_PARTS,
  type OnHeader,
  transposes,
  truncated,
  unsupported,
} from './check-error.ts';
import { exifOrientation } from './exif-orientation.ts';

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const APP1 = 0xe1;
const DHT = 0xc4;
const DQT = 0xdb;
const DRI = 0xdd;
const TEM = 0x01;

/** What each marker is, by its second byte. */
const Kind = {
  /** DHP, EXP, JPGn and reserved markers: libjpeg refuses them. */
  Refused: 0,
  /** Baseline, extended and progressive frames, Huffman or arithmetic-coded: what libjpeg decodes. */
  Frame: 1,
  /** Lossless and hierarchical frames: valid JPEG that libjpeg does not decode. */
  OtherFrame: 2,
  /** RSTn and TEM: no length, ignored between segments. */
  Standalone: 3,
  /** DAC, DNL, APPn, COM: segments with a length and nothing to check inside. */
  Skipped: 4,
  Sos: 5,
  Dht: 6,
  Dqt: 7,
  Dri: 8,
  Soi: 9,
  Eoi: 10,
} as const;

const KINDS = new Uint8Array(256);
for (const m of [0xc0, 0xc1, 0xc2, 0xc9, 0xca]) KINDS[m] = Kind.Frame;
for (const m of [0xc3, 0xc5, 0xc6, 0xc7, 0xcb, 0xcd, 0xce, 0xcf]) KINDS[m] = Kind.OtherFrame;
for (let m = 0xd0; m <= 0xd7; m++) KINDS[m] = Kind.Standalone;
KINDS[TEM] = Kind.Standalone;
for (let m = 0xe0; m <= 0xef; m++) KINDS[m] = Kind.Skipped;
for (const m of [0xcc, 0xdc, 0xfe]) KINDS[m] = Kind.Skipped;
KINDS[SOS] = Kind.Sos;
KINDS[DHT] = Kind.Dht;
KINDS[DQT] = Kind.Dqt;
KINDS[DRI] = Kind.Dri;
KINDS[SOI] = Kind.Soi;
KINDS[EOI] = Kind.Eoi;

const isRst = (m: number) => m >= 0xd0 && m <= 0xd7;

interface Frame {
  size: ImageSize;
  /** Component id → its quantization table. */
  quant: Map<number, number>;
  progressive: boolean;
  /** Huffman-coded (SOF0-2), not arithmetic-coded (SOF9-10, whose conditioning tables have defaults). */
  huffman: boolean;
}

/**
 * The door check of a JPEG: its size (from the frame header; EXIF orientation applied, from the first APP1 Exif
 * segment, as libvips reads it) and its structure. Walks the file from SOI to EOI without decoding it: every segment's
 * length within the file, one frame header (SOF) before the first scan (SOS), every scan's components in the frame,
 * their quantization and Huffman tables defined (or 0/1, which libjpeg supplies for Motion-JPEG), and each scan's
 * entropy-coded data read through to the next marker (`FF 00` stuffing, RSTn and FF fill bytes are data). A file
 * without EOI is truncated. Bytes after EOI are allowed: phones append a motion photo's video there.
 *
 * Mirrors what libjpeg treats as fatal, and only that: stray bytes before a marker (many cameras write a few) are
 * skipped as libjpeg skips them. Garbage inside the entropy-coded data cannot be seen without decoding: the worker's
 * decode refuses it (IMAGE_CORRUPT).
 */
export function checkJpeg(b: Buffer, onHeader: OnHeader): ImageSize {
  const n = b.length;
  if (n < 4 || b[0] !== 0xff || b[1] !== SOI) throw damaged('JPEG: no SOI marker');
  let pos = 2;
  let frame: Frame | undefined;
  let scans = 0;
  let orientation: number | undefined;
  const quantDefined = new Set<number>();
  // (class << 4) | id of each Huffman table defined so far.
  const huffDefined = new Set<number>();
  for (let parts = 0; ; parts++) {
    if (parts > MAX_PARTS) throw damaged('JPEG: too many segments');
    // The next marker: as libjpeg does, skip bytes that are not FF, FF fill bytes, and FF 00 pairs.
    let m = 0;
    while (m === 0) {
      const ff = nextFF(b, pos);
      if (ff < 0) throw truncated('JPEG: the file ends before its EOI marker');
      pos = skipFill(b, ff + 1);
      if (pos >= n) throw truncated('JPEG: the file ends before its EOI marker');
      m = b[pos++]!;
    }
    const kind = KINDS[m]!;
    if (kind === Kind.Eoi) {
      if (!frame || scans === 0) throw damaged('JPEG: EOI before any scan');
      return displayed(frame.size, transposes(orientation));
    }
    if (kind === Kind.Standalone) continue;
    if (kind === Kind.Soi) throw damaged('JPEG: a second SOI marker');
    if (kind === Kind.Refused) throw damaged(`JPEG: marker 0x${m.toString(16)} at ${pos - 2}`);
    if (pos + 2 > n) throw truncated('JPEG: a segment length past the end');
    const len = b.readUInt16BE(pos);
    if (len < 2) throw damaged(`JPEG: segment length ${len} at ${pos}`);
    const start = pos + 2;
    const end = pos + len;
    if (end > n) throw truncated(`JPEG: segment 0x${m.toString(16)} at ${pos - 2} ends past the end of the file`);
    switch (kind) {
      case Kind.Frame:
      case Kind.OtherFrame:
        if (frame) throw damaged('JPEG: a second frame header');
        if (kind === Kind.OtherFrame) throw unsupported(`JPEG: frame type 0x${m.toString(16)}`);
        frame = readFrame(b, start, end, m);
        onHeader(frame.size);
        break;
      case Kind.Dht:
        readHuffmanTables(b, start, end, huffDefined);
        break;
      case Kind.Dqt:
        readQuantTables(b, start, end, quantDefined);
        break;
      case Kind.Dri:
        if (len !== 4) throw damaged('JPEG: DRI length');
        break;
      case Kind.Sos:
        if (!frame) throw damaged('JPEG: a scan before the frame header');
        checkScan(b, start, end, frame, quantDefined, huffDefined);
        scans++;
        pos = skipEntropyData(b, end);
        continue;
      default:
        if (m === APP1 && orientation === undefined && b.toString('latin1', start, start + 6) === 'Exif\0\0') {
          orientation = exifOrientation(b.subarray(start, end)) ?? 0;
        }
    }
    pos = end;
  }
}

function readFrame(b: Buffer, start: number, end: number, marker: number): Frame {
  if (end - start < 6) throw damaged('JPEG: frame header too short');
  const precision = b[start]!;
  const height = b.readUInt16BE(start + 1);
  const width = b.readUInt16BE(start + 3);
  const count = b[start + 5]!;
  if (count < 1 || count > 10 || end - start !== 6 + 3 * count) throw damaged('JPEG: frame header length');
  if (width === 0 || height === 0) throw damaged('JPEG: empty frame (or a DNL height, which libjpeg refuses)');
  if (precision !== 8) throw unsupported(`JPEG: ${precision}-bit samples`);
  const quant = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    const c = start + 6 + 3 * i;
    const h = b[c + 1]! >> 4;
    const v = b[c + 1]! & 15;
    const tq = b[c + 2]!;
    if (h < 1 || h > 4 || v < 1 || v > 4) throw damaged('JPEG: sampling factors');
    if (tq > 3) throw damaged('JPEG: quantization table number');
    quant.set(b[c]!, tq);
  }
  return { size: { width, height }, quant, progressive: marker === 0xc2 || marker === 0xca, huffman: marker < 0xc4 };
}

function readHuffmanTables(b: Buffer, start: number, end: number, defined: Set<number>): void {
  let p = start;
  while (end - p > 16) {
    const index = b[p]!;
    // 0x00-0x03: DC tables, 0x10-0x13: AC tables.
    if ((index & 0xec) !== 0) throw damaged('JPEG: Huffman table index');
    let count = 0;
    for (let i = 1; i <= 16; i++) count += b[p + i]!;
    p += 17;
    if (count > 256 || p + count > end) throw damaged('JPEG: Huffman table length');
    p += count;
    defined.add(index);
  }
  if (p !== end) throw damaged('JPEG: DHT length');
}

function readQuantTables(b: Buffer, start: number, end: number, defined: Set<number>): void {
  let p = start;
  while (p < end) {
    const pq = b[p]! >> 4;
    const tq = b[p]! & 15;
    if (tq > 3) throw damaged('JPEG: quantization table index');
    p += 1 + (pq ? 128 : 64);
    if (p > end) throw damaged('JPEG: DQT length');
    defined.add(tq);
  }
}

/** A scan header: its components in the frame, and every table it uses defined (libjpeg's fatal checks). */
function checkScan(
  b: Buffer,
  start: number,
  end: number,
  frame: Frame,
  quantDefined: Set<number>,
  huffDefined: Set<number>,
): void {
  const count = b[start]!;
  if (count < 1 || count > 4 || end - start !== 4 + 2 * count) throw damaged('JPEG: scan header length');
  const ss = b[start + 1 + 2 * count]!;
  const se = b[start + 2 + 2 * count]!;
  const ah = b[start + 3 + 2 * count]! >> 4;
  const al = b[start + 3 + 2 * count]! & 15;
  const dcBand = ss === 0;
  if (frame.progressive) {
    const bad = (dcBand ? se !== 0 : ss > se || se > 63 || count !== 1) || (ah !== 0 && al !== ah - 1) || al > 13;
    if (bad) throw damaged('JPEG: progression parameters');
  }
  // Which tables this scan decodes with (progressive DC refinement scans use none).
  const usesDc = !frame.progressive || (dcBand && ah === 0);
  const usesAc = !frame.progressive || !dcBand;
  const seen = new Set<number>();
  for (let i = 0; i < count; i++) {
    const id = b[start + 1 + 2 * i]!;
    const tables = b[start + 2 + 2 * i]!;
    const tq = frame.quant.get(id);
    if (tq === undefined || seen.has(id)) throw damaged('JPEG: scan component not in the frame');
    seen.add(id);
    if (!quantDefined.has(tq)) throw damaged('JPEG: quantization table not defined');
    const dc = tables >> 4;
    const ac = tables & 15;
    if (!frame.huffman) continue;
    // libjpeg supplies the standard tables 0 and 1 when a file defines none (Motion-JPEG frames).
    if (usesDc && dc > 1 && !huffDefined.has(dc)) throw damaged('JPEG: DC Huffman table not defined');
    if (usesAc && ac > 1 && !huffDefined.has(0x10 | ac)) throw damaged('JPEG: AC Huffman table not defined');
  }
}

/**
 * Reads entropy-coded data from `pos` to the marker that ends it; returns that marker's offset. `FF 00` is a
 * stuffed FF, `FF D0`-`FF D7` restart markers, and an FF before another FF a fill byte: all part of the data.
 */
function skipEntropyData(b: Buffer, pos: number): number {
  const n = b.length;
  for (;;) {
    const ff = nextFF(b, pos);
    if (ff < 0 || ff + 1 >= n) throw truncated('JPEG: the scan data ends before the EOI marker');
    const next = b[ff + 1]!;
    if (next === 0 || isRst(next)) pos = ff + 2;
    else if (next === 0xff) pos = skipFill(b, ff + 1);
    else return ff;
  }
}

/**
 * The offset of the next FF byte from `pos`, or -1. A few bytes are looked at one by one first: FF bytes are
 * about one in 256 in real entropy-coded data, where the native search is fastest, but a crafted file can make
 * them every other byte, where a call per FF would cost 20 times more.
 */
function nextFF(b: Buffer, pos: number): number {
  const near = Math.min(pos + 32, b.length);
  for (let i = pos; i < near; i++) if (b[i] === 0xff) return i;
  return near < b.length ? b.indexOf(0xff, near) : -1;
}

const FILL = Buffer.alloc(4096, 0xff);

/** The offset of the first byte that is not FF from `pos` (a run of fill bytes; long ones compared 4 KB at a time). */
function skipFill(b: Buffer, pos: number): number {
  const n = b.length;
  const near = Math.min(pos + 64, n);
  while (pos < near && b[pos] === 0xff) pos++;
  if (pos < near || pos === n) return pos;
  while (pos + FILL.length <= n && b.compare(FILL, 0, FILL.length, pos, pos + FILL.length) === 0) pos += FILL.length;
  while (pos < n && b[pos] === 0xff) pos++;
  return pos;
}
