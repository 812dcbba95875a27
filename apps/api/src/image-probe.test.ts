import { crc32 } from 'node:zlib';
import type { ImageFormat } from '@bullpen/uploads';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkImage } from './image-probe.ts';

type Sharp = ReturnType<typeof sharp>;

/** A noisy picture (so encoders make realistic files), `width` x `height`. */
const picture = (width = 96, height = 64, channels: 3 | 4 = 3) =>
  sharp({
    create: {
      width,
      height,
      channels,
      background: { r: 40, g: 120, b: 200, alpha: 0.5 },
      noise: { type: 'gaussian', mean: 128, sigma: 40 },
    },
  });

async function animation(format: 'gif' | 'webp'): Promise<Buffer> {
  const frames = await Promise.all([0, 1, 2].map(() => picture(48, 32).png().toBuffer()));
  const joined = sharp(frames, { join: { animated: true } });
  return (format === 'gif' ? joined.gif() : joined.webp()).toBuffer();
}

function markerAt(jpeg: Buffer, marker: number, from = 2): number {
  for (let i = from; i < jpeg.length - 1; i++) if (jpeg[i] === 0xff && jpeg[i + 1] === marker) return i;
  throw new Error(`no marker ${marker.toString(16)}`);
}

/** Deterministic pseudo-random bytes (mulberry32), so a failure can be reproduced. */
function noise(n: number, seed: number): Buffer {
  let a = seed >>> 0;
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (t ^ (t >>> 14)) >>> 24;
  }
  return out;
}

const MAX = 50_000_000;
const check = (bytes: Buffer, format: ImageFormat, maxPixels = MAX) => checkImage(bytes, format, maxPixels);
/** The refusal's code and message, or undefined when the file is accepted. */
function refusal(bytes: Buffer, format: ImageFormat, maxPixels = MAX): { code: string; message: string } | undefined {
  try {
    check(bytes, format, maxPixels);
    return undefined;
  } catch (err) {
    const { code, message } = err as { code: string; message: string };
    return { code, message };
  }
}

interface Sample {
  label: string;
  format: ImageFormat;
  bytes: Buffer;
}

/** Valid files of every format as sharp writes them, each in the shapes that change its structure. */
async function samples(): Promise<Sample[]> {
  const made: [string, ImageFormat, Sharp | Promise<Buffer>][] = [
    ['baseline JPEG', 'jpeg', picture().jpeg()],
    ['progressive JPEG', 'jpeg', picture().jpeg({ progressive: true })],
    ['JPEG with EXIF orientation 6', 'jpeg', picture().withMetadata({ orientation: 6 }).jpeg()],
    ['JPEG with EXIF orientation 3', 'jpeg', picture().withMetadata({ orientation: 3 }).jpeg()],
    ['greyscale JPEG', 'jpeg', picture().greyscale().jpeg()],
    [
      '4:4:4 JPEG without Huffman optimisation',
      'jpeg',
      picture().jpeg({ chromaSubsampling: '4:4:4', optimiseCoding: false }),
    ],
    ['PNG', 'png', picture().png()],
    ['interlaced PNG', 'png', picture().png({ progressive: true })],
    ['palette PNG', 'png', picture().png({ palette: true })],
    ['16-bit RGBA PNG', 'png', picture(96, 64, 4).toColourspace('rgb16').png()],
    ['PNG with EXIF orientation 6', 'png', picture().withMetadata({ orientation: 6 }).png()],
    ['GIF', 'gif', picture().gif()],
    ['animated GIF', 'gif', animation('gif')],
    ['lossy WebP', 'webp', picture().webp()],
    ['lossless WebP', 'webp', picture().webp({ lossless: true })],
    ['WebP with alpha', 'webp', picture(96, 64, 4).webp()],
    ['animated WebP', 'webp', animation('webp')],
    ['WebP with EXIF orientation 6', 'webp', picture().withMetadata({ orientation: 6 }).webp()],
    ['AVIF', 'avif', picture().avif({ effort: 0 })],
    ['AVIF with alpha', 'avif', picture(96, 64, 4).avif({ effort: 0 })],
    ['AVIF rotated (irot)', 'avif', picture().withMetadata({ orientation: 6 }).avif({ effort: 0 })],
    ['TIFF (JPEG-compressed)', 'tiff', picture().tiff()],
    ['LZW TIFF', 'tiff', picture().tiff({ compression: 'lzw' })],
    ['tiled TIFF', 'tiff', picture().tiff({ tile: true, tileWidth: 16, tileHeight: 16 })],
    ['BigTIFF', 'tiff', picture().tiff({ bigtiff: true, compression: 'deflate' })],
    ['TIFF with orientation 6', 'tiff', picture().withMetadata({ orientation: 6 }).tiff()],
  ];
  return Promise.all(
    made.map(async ([label, format, img]) => ({
      label,
      format,
      bytes: img instanceof Promise ? await img : await img.toBuffer(),
    })),
  );
}

let all: Sample[];
const sample = (label: string) => {
  const s = all.find((x) => x.label === label);
  if (!s) throw new Error(`no sample ${label}`);
  return s;
};

beforeAll(async () => {
  all = await samples();
});

describe('checkImage of valid images', () => {
  it('accepts every format sharp writes, with the displayed size sharp reports (orientation applied)', async () => {
    for (const s of all) {
      const meta = await sharp(s.bytes).metadata();
      const want = meta.autoOrient ?? { width: meta.width, height: meta.height };
      expect(check(s.bytes, s.format), s.label).toEqual({ format: s.format, width: want.width, height: want.height });
    }
    // The orientations did turn the sides.
    expect(check(sample('JPEG with EXIF orientation 6').bytes, 'jpeg')).toMatchObject({ width: 64, height: 96 });
    expect(check(sample('AVIF rotated (irot)').bytes, 'avif')).toMatchObject({ width: 64, height: 96 });
  });

  it('accepts a JPEG with a motion photo appended after its EOI marker', () => {
    const jpeg = sample('baseline JPEG').bytes;
    const video = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypmp42'), noise(5000, 7)]);
    expect(check(Buffer.concat([jpeg, video]), 'jpeg')).toMatchObject({ width: 96, height: 64 });
  });

  it('accepts a JPEG with stray bytes before a marker, as cameras write and libjpeg skips', () => {
    const jpeg = sample('baseline JPEG').bytes;
    const dht = markerAt(jpeg, 0xc4);
    const stray = Buffer.concat([jpeg.subarray(0, dht), Buffer.alloc(4), jpeg.subarray(dht)]);
    expect(check(stray, 'jpeg')).toMatchObject({ width: 96, height: 64 });
  });

  it('leaves damage inside compressed data to the worker: mid-scan JPEG garbage and mid-bitstream WebP garbage pass', () => {
    const jpeg = Buffer.from(sample('baseline JPEG').bytes);
    const sos = markerAt(jpeg, 0xda);
    const scan = sos + 2 + jpeg.readUInt16BE(sos + 2);
    // Garbage whose FF bytes are stuffing or restart markers, so that it cannot be told from entropy-coded data
    // without decoding it (the worker's decode refuses it: see e2e.int.test.ts).
    const garbage = noise(400, 3);
    for (let i = 0; i < garbage.length; i++) if (garbage[i - 1] === 0xff) garbage[i] = i % 2 ? 0 : 0xd3;
    garbage[garbage.length - 1] = 0;
    garbage.copy(jpeg, scan + Math.floor((jpeg.length - scan) / 2));
    expect(refusal(jpeg, 'jpeg')).toBeUndefined();
    const webp = Buffer.from(sample('lossy WebP').bytes);
    noise(64, 4).copy(webp, Math.floor(webp.length / 2));
    expect(refusal(webp, 'webp')).toBeUndefined();
  });
});

describe('checkImage of damaged images', () => {
  it('refuses every file cut short, wherever it is cut, as UPLOAD_CORRUPT', () => {
    for (const s of all) {
      const n = s.bytes.length;
      const cuts = new Set([1, 2, 3, 8, 13, 20, 31, n - 1, n - 2, n - 3, n - 5, n - 9]);
      for (let i = 1; i < 40; i++) cuts.add(Math.floor((n * i) / 40));
      for (const cut of cuts) {
        expect(refusal(s.bytes.subarray(0, cut), s.format)?.code, `${s.label} cut at ${cut} of ${n}`).toBe(
          'UPLOAD_CORRUPT',
        );
      }
    }
  });

  it('refuses garbage after the magic bytes of every format', () => {
    const magic: [ImageFormat, Buffer][] = [
      ['jpeg', sample('baseline JPEG').bytes.subarray(0, 4)],
      ['png', sample('PNG').bytes.subarray(0, 8)],
      ['gif', Buffer.from('GIF89a')],
      ['webp', sample('lossy WebP').bytes.subarray(0, 12)],
      ['avif', sample('AVIF').bytes.subarray(0, sample('AVIF').bytes.readUInt32BE(0))],
      ['tiff', Buffer.from('II*\0')],
      ['tiff', Buffer.from('MM\0+\0\x08\0\0')],
    ];
    for (const [format, head] of magic) {
      for (const length of [1, 7, 40, 300, 4000, 70_000]) {
        for (let seed = 1; seed <= 12; seed++) {
          const bytes = Buffer.concat([head, noise(length, seed * 1000 + length)]);
          const got = refusal(bytes, format);
          expect(got?.code, `${format} + ${length} bytes (seed ${seed})`).toMatch(/^UPLOAD_(CORRUPT|TOO_MANY_PIXELS)$/);
        }
      }
    }
  });

  it('refuses a PNG whose chunk CRC is wrong, in image data or in an ancillary chunk', () => {
    const png = sample('PNG with EXIF orientation 6').bytes;
    const idat = png.indexOf('IDAT');
    const exif = png.indexOf('eXIf');
    for (const at of [idat + 20, exif + 10, png.length - 13]) {
      const bad = Buffer.from(png);
      bad[at]! ^= 0x10;
      expect(refusal(bad, 'png'), `byte ${at}`).toEqual({
        code: 'UPLOAD_CORRUPT',
        message: 'The image data is damaged',
      });
    }
  });

  it('refuses a WebP whose RIFF size disagrees with the file', () => {
    const webp = sample('WebP with alpha').bytes;
    const riff = webp.readUInt32LE(4);
    for (const [size, message] of [
      [riff + 2, 'The image is truncated'],
      [riff - 6, 'The image data is damaged'],
      [6, 'The image data is damaged'],
    ] as const) {
      const bad = Buffer.from(webp);
      bad.writeUInt32LE(size, 4);
      expect(refusal(bad, 'webp'), `RIFF size ${size}`).toEqual({ code: 'UPLOAD_CORRUPT', message });
    }
  });

  it('refuses a JPEG that libjpeg cannot decode: undefined Huffman table, no scan, two frames, 12-bit, lossless', () => {
    const jpeg = sample('baseline JPEG').bytes;
    const sos = markerAt(jpeg, 0xda);
    const sof = markerAt(jpeg, 0xc0);
    const undefinedTable = Buffer.from(jpeg);
    undefinedTable[sos + 6] = 0x33;
    const noScan = Buffer.concat([jpeg.subarray(0, sos), Buffer.from([0xff, 0xd9])]);
    const sofSegment = jpeg.subarray(sof, sof + 2 + jpeg.readUInt16BE(sof + 2));
    const twoFrames = Buffer.concat([jpeg.subarray(0, sos), sofSegment, jpeg.subarray(sos)]);
    const twelveBit = Buffer.from(jpeg);
    twelveBit[sof + 4] = 12;
    const reserved = Buffer.concat([jpeg.subarray(0, sos), Buffer.from([0xff, 0x02, 0, 2]), jpeg.subarray(sos)]);
    const lossless = Buffer.from(jpeg);
    lossless[sof + 1] = 0xc3;
    for (const [label, bytes] of Object.entries({ undefinedTable, noScan, twoFrames, twelveBit, reserved, lossless })) {
      expect(refusal(bytes, 'jpeg')?.code, label).toBe('UPLOAD_CORRUPT');
    }
    for (const bytes of [twelveBit, lossless]) {
      expect(refusal(bytes, 'jpeg')?.message).toBe('The image uses a variant of its format that cannot be decoded');
    }
  });

  it('refuses a JPEG whose data after the cut is all FF fill bytes (no EOI)', () => {
    const jpeg = sample('progressive JPEG').bytes;
    for (const cut of [300, Math.floor(jpeg.length / 2), jpeg.length - 3]) {
      const bad = Buffer.concat([jpeg.subarray(0, cut), Buffer.alloc(jpeg.length - cut + 5000, 0xff)]);
      expect(refusal(bad, 'jpeg')?.code, `cut at ${cut}`).toBe('UPLOAD_CORRUPT');
    }
  });

  it('refuses an AVIF cut at a box boundary (its image data gone) and one whose ftyp is not first', () => {
    const avif = sample('AVIF').bytes;
    const ftyp = avif.readUInt32BE(0);
    const meta = ftyp + avif.readUInt32BE(ftyp);
    expect(refusal(avif.subarray(0, meta), 'avif')).toEqual({
      code: 'UPLOAD_CORRUPT',
      message: 'The image is truncated',
    });
    const swapped = Buffer.concat([avif.subarray(ftyp, meta), avif.subarray(0, ftyp), avif.subarray(meta)]);
    expect(refusal(swapped, 'avif')?.code).toBe('UPLOAD_CORRUPT');
  });

  it('refuses a TIFF whose IFD chain loops or whose strips reach past the end', () => {
    const tiff = sample('LZW TIFF').bytes;
    const ifd = tiff.readUInt32LE(4);
    const count = tiff.readUInt16LE(ifd);
    const looping = Buffer.from(tiff);
    looping.writeUInt32LE(ifd, ifd + 2 + count * 12);
    expect(refusal(looping, 'tiff')).toEqual({ code: 'UPLOAD_CORRUPT', message: 'The image data is damaged' });
    const longStrip = Buffer.from(tiff);
    for (let i = 0; i < count; i++) {
      const e = ifd + 2 + i * 12;
      if (longStrip.readUInt16LE(e) === 279) longStrip.writeUInt32LE(tiff.length, e + 8);
    }
    expect(refusal(longStrip, 'tiff')).toEqual({ code: 'UPLOAD_CORRUPT', message: 'The image is truncated' });
  });

  it('refuses a GIF without an image, and one with an unknown block', () => {
    const gif = sample('GIF').bytes;
    const noImage = Buffer.concat([gif.subarray(0, 13 + 3 * 2 ** ((gif[10]! & 7) + 1)), Buffer.from([0x3b])]);
    expect(refusal(noImage, 'gif')?.code).toBe('UPLOAD_CORRUPT');
    const unknown = Buffer.from(gif);
    unknown[unknown.length - 1] = 0x42;
    expect(refusal(unknown, 'gif')?.code).toBe('UPLOAD_CORRUPT');
  });
});

describe('checkImage of decompression bombs', () => {
  /** A PNG whose IHDR claims `width` x `height` (CRC fixed), cut after its IHDR: it cannot even be walked. */
  function pngClaiming(width: number, height: number): Buffer {
    const png = Buffer.from(sample('PNG').bytes.subarray(0, 33 + 30));
    png.writeUInt32BE(width, 16);
    png.writeUInt32BE(height, 20);
    png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
    return png;
  }

  it('refuses a header over the pixel cap as UPLOAD_TOO_MANY_PIXELS before the rest of the file is read', () => {
    expect(refusal(pngClaiming(30_000, 30_000), 'png')?.code).toBe('UPLOAD_TOO_MANY_PIXELS');
    expect(refusal(pngClaiming(2 ** 31 - 1, 2 ** 31 - 1), 'png')?.code).toBe('UPLOAD_TOO_MANY_PIXELS');
    const jpeg = Buffer.from(sample('baseline JPEG').bytes);
    const sof = markerAt(jpeg, 0xc0);
    jpeg.writeUInt16BE(60_000, sof + 5);
    jpeg.writeUInt16BE(60_000, sof + 7);
    expect(refusal(jpeg.subarray(0, sof + 40), 'jpeg')?.code).toBe('UPLOAD_TOO_MANY_PIXELS');
    for (const s of all) {
      const { width, height } = check(s.bytes, s.format);
      expect(refusal(s.bytes, s.format, width * height - 1)?.code, s.label).toBe('UPLOAD_TOO_MANY_PIXELS');
    }
  });

  it('answers in its own words: no offsets, no parser text', () => {
    const answers = new Set<string>();
    for (const s of all) {
      for (const cut of [5, Math.floor(s.bytes.length / 2)]) {
        const r = refusal(s.bytes.subarray(0, cut), s.format);
        if (r) answers.add(r.message);
      }
    }
    for (const message of answers) {
      expect(message).toMatch(/^The image (header cannot be read|is truncated|data is damaged)$/);
    }
  });
});
