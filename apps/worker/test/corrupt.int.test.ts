import { letterIdFor } from '@bullpen/jobs';
import { useRedisTest, waitFor } from '@bullpen/test-utils';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { buildWorker, type WorkerApp } from '../src/app.ts';
import { makeImage, removeDir, type Seeder, seeder, tempDir, workerConfig } from './helpers.ts';

/** Offset of the first `FF <marker>` in a JPEG. */
function markerAt(jpeg: Buffer, marker: number): number {
  for (let i = 2; i < jpeg.length - 1; i++) if (jpeg[i] === 0xff && jpeg[i + 1] === marker) return i;
  throw new Error(`no marker ${marker.toString(16)}`);
}

/** Deterministic bytes that look like entropy-coded data, 0xFF included. */
function garbage(n: number): Buffer {
  const out = Buffer.alloc(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out[i] = x >> 16;
  }
  return out;
}

/** Inputs made at test time: damaged ones that can never decode, and a benign quirk that must still work. */
async function inputs() {
  const jpeg = await makeImage('jpeg', 900, 600);
  const sos = markerAt(jpeg, 0xda);
  const scan = sos + 2 + jpeg.readUInt16BE(sos + 2);

  // 2 KB of garbage in the middle of the scan data: the API's small decode lets it through.
  const midGarbage = Buffer.from(jpeg);
  garbage(2000).copy(midGarbage, scan + Math.floor((jpeg.length - scan) / 2));
  // The scan's first component names Huffman tables 3/3, which the file never defines.
  const undefinedTable = Buffer.from(jpeg);
  undefinedTable[sos + 6] = 0x33;
  // Four stray bytes before the DHT marker, as many cameras write: "Corrupt JPEG data: 4 extraneous bytes".
  const dht = markerAt(jpeg, 0xc4);
  const benign = Buffer.concat([jpeg.subarray(0, dht), Buffer.alloc(4), jpeg.subarray(dht)]);

  const png = await makeImage('png', 300, 200);
  const pngGarbage = Buffer.from(png);
  garbage(500).copy(pngGarbage, Math.floor(png.length / 2));
  return {
    corrupt: {
      'jpeg-garbage': midGarbage,
      'jpeg-huffman': undefinedTable,
      'jpeg-truncated': jpeg.subarray(0, Math.floor(jpeg.length * 0.6)),
      'png-truncated': png.subarray(0, Math.floor(png.length * 0.6)),
      'png-garbage': pngGarbage,
    },
    benign,
  };
}

describe('image.resize of an image that cannot be decoded (issue 10, defect 8)', () => {
  const t = useRedisTest();
  let dir: string;
  let worker: WorkerApp | undefined;
  let s: Seeder | undefined;

  afterEach(async () => {
    await worker?.close({ deadlineMs: 2000 });
    await s?.close();
    worker = undefined;
    s = undefined;
    removeDir(dir);
  });

  it('dead-letters a damaged image on its first attempt as IMAGE_CORRUPT, and still makes a benign one', async () => {
    dir = tempDir();
    s = seeder(t, dir);
    worker = await buildWorker(workerConfig(t, dir));
    const { corrupt, benign } = await inputs();
    // The benign file's warning is real: a strict decode refuses it.
    await expect(sharp(benign, { failOn: 'warning' }).raw().toBuffer()).rejects.toThrow(/extraneous bytes/);

    const ids = Object.keys(corrupt).map((name) => `upload-${name}`);
    for (const [name, bytes] of Object.entries(corrupt)) {
      const format = name.startsWith('png') ? 'png' : 'jpeg';
      await s.seed(`upload-${name}`, bytes, { format, width: 300, height: 200, sizes: [128, 512] });
    }
    await s.seed('upload-benign1', benign, { format: 'jpeg', width: 900, height: 600, sizes: [128] });

    for (const id of ids) {
      const rec = await waitFor(
        async () => {
          const r = await s!.records.get(id);
          return r?.status === 'dead' ? r : undefined;
        },
        30_000,
        `${id} to be dead`,
      );
      expect(rec.error?.code, id).toBe('IMAGE_CORRUPT');
      // The worker's own words reach the status; libvips' stay in the logs.
      expect(rec.error?.message, id).not.toMatch(/vips|libpng|huffman|premature/i);
      const letter = await s.producer.queue('images.dead').getJob(letterIdFor(`image.resize#${id}`));
      expect(letter?.data.code, id).toBe('IMAGE_CORRUPT');
      // Before the fix: a plain Error, retried five times.
      expect(letter?.data.attempts, id).toHaveLength(1);
      expect(rec.variants, id).toEqual([]);
    }

    const ok = await waitFor(async () => {
      const r = await s!.records.get('upload-benign1');
      return r?.status === 'done' ? r : undefined;
    }, 30_000);
    expect(ok.variants.map((v) => v.name)).toEqual(['128.webp', '128.jpeg']);
  });
});
