import { damaged, truncated } from './check-error.ts';

/** How a TIFF structure (a TIFF file, or an EXIF block) is laid out. */
export interface TiffLayout {
  littleEndian: boolean;
  /** BigTIFF: 8-byte counts and offsets. */
  big: boolean;
  /** Offset of the first IFD. */
  firstIfd: number;
}

export interface IfdEntry {
  tag: number;
  type: number;
  count: number;
  /** Where the value is: inside the entry when it fits, else at the offset the entry names. */
  at: number;
}

export interface Ifd {
  /** The entries of the tags asked for, by tag. */
  tags: Map<number, IfdEntry>;
  /** Offset of the next IFD; 0 for none. */
  next: number;
  /** Where the IFD ends. */
  end: number;
}

/** Byte size of one value of each TIFF field type; entries of unknown types are skipped (libtiff warns). */
const TYPE_SIZES: Record<number, number> = {
  1: 1,
  2: 1,
  3: 2,
  4: 4,
  5: 8,
  6: 1,
  7: 1,
  8: 2,
  9: 4,
  10: 8,
  11: 4,
  12: 8,
  13: 4,
  16: 8,
  17: 8,
  18: 8,
};

/** Reads an unsigned integer of `size` bytes (2, 4 or 8) at `at`. */
function uint(b: Buffer, at: number, size: number, le: boolean): number {
  if (size === 2) return le ? b.readUInt16LE(at) : b.readUInt16BE(at);
  if (size === 4) return le ? b.readUInt32LE(at) : b.readUInt32BE(at);
  const v = le ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw damaged('TIFF: an offset past 2^53');
  return Number(v);
}

export function readTiffLayout(b: Buffer): TiffLayout {
  if (b.length < 8) throw truncated('TIFF: no header');
  const order = b.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') throw damaged('TIFF: byte order');
  const littleEndian = order === 'II';
  const version = uint(b, 2, 2, littleEndian);
  if (version === 42) return { littleEndian, big: false, firstIfd: uint(b, 4, 4, littleEndian) };
  if (version !== 43) throw damaged('TIFF: version');
  if (b.length < 16) throw truncated('TIFF: no BigTIFF header');
  if (uint(b, 4, 2, littleEndian) !== 8 || uint(b, 6, 2, littleEndian) !== 0) throw damaged('TIFF: BigTIFF header');
  return { littleEndian, big: true, firstIfd: uint(b, 8, 8, littleEndian) };
}

/**
 * The IFD at `offset`: the entries of the tags in `wanted` and the next IFD's offset. Throws when the IFD
 * reaches past the end of `b`, or has more entries than a real one; with `checkValues`, also when any entry's
 * value does (a cut file loses the values written after the IFD: JPEG tables, the ICC profile).
 */
export function readIfd(
  b: Buffer,
  layout: TiffLayout,
  offset: number,
  wanted: ReadonlySet<number>,
  opts: {
    checkValues?: boolean;
    /** Entries left to read over every IFD of the file: IFDs may overlap, so its length does not bound them. */
    budget?: { entries: number };
  } = {},
): Ifd {
  const { checkValues = false, budget = { entries: 0xffff } } = opts;
  const { littleEndian: le, big } = layout;
  const countSize = big ? 8 : 2;
  const entrySize = big ? 20 : 12;
  const wordSize = big ? 8 : 4;
  if (offset < 8 || offset + countSize > b.length) throw truncated(`TIFF: IFD at ${offset} past the end`);
  const count = uint(b, offset, countSize, le);
  if (count > 0xffff) throw damaged('TIFF: IFD entry count');
  budget.entries -= count;
  if (budget.entries < 0) throw damaged('TIFF: too many IFD entries');
  const end = offset + countSize + count * entrySize + wordSize;
  if (end > b.length) throw truncated(`TIFF: IFD at ${offset} ends past the end`);
  const tags = new Map<number, IfdEntry>();
  for (let i = 0; i < count; i++) {
    const e = offset + countSize + i * entrySize;
    const tag = uint(b, e, 2, le);
    if (!checkValues && !wanted.has(tag)) continue;
    const type = uint(b, e + 2, 2, le);
    const n = uint(b, e + 4, wordSize, le);
    const valueField = e + 4 + wordSize;
    const bytes = (TYPE_SIZES[type] ?? 0) * n;
    const at = bytes <= wordSize ? valueField : uint(b, valueField, wordSize, le);
    if (checkValues && at + bytes > b.length) throw truncated(`TIFF: the value of tag ${tag} reaches past the end`);
    if (wanted.has(tag) && !tags.has(tag)) tags.set(tag, { tag, type, count: n, at });
  }
  return { tags, next: uint(b, end - wordSize, wordSize, le), end };
}

/**
 * A reader of the values of a SHORT, LONG or LONG8 entry (offsets, byte counts, orientation), once they are
 * known to lie within `b`.
 */
export function uintValues(b: Buffer, layout: TiffLayout, e: IfdEntry): (i: number) => number {
  const size = e.type === 3 ? 2 : e.type === 4 || e.type === 13 ? 4 : e.type === 16 || e.type === 18 ? 8 : 0;
  if (size === 0) throw damaged(`TIFF: tag ${e.tag} has type ${e.type}`);
  if (e.at + e.count * size > b.length) throw truncated(`TIFF: the values of tag ${e.tag} reach past the end`);
  return (i) => uint(b, e.at + i * size, size, layout.littleEndian);
}

export const TAG_ORIENTATION = 274;
