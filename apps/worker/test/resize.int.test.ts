import { useRedisTest, waitFor } from '@bullpen/test-utils';
import { uploadKeys } from '@bullpen/uploads';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { buildWorker, type WorkerApp } from '../src/app.ts';
import { planVariants } from '../src/handlers/image-resize.ts';
import { filesUnder, makeImage, removeDir, type Seeder, seeder, tempDir, workerConfig } from './helpers.ts';

describe('image.resize', () => {
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

  async function start() {
    dir = tempDir();
    s = seeder(t, dir);
    worker = await buildWorker(workerConfig(t, dir));
    return s;
  }

  it('plans each width as WebP and in the original format', () => {
    expect(planVariants({ format: 'png', sizes: [512, 128] }).map((v) => v.name)).toEqual([
      '128.webp',
      '128.png',
      '512.webp',
      '512.png',
    ]);
    expect(planVariants({ format: 'webp', sizes: [1024] }).map((v) => v.name)).toEqual(['1024.webp']);
  });

  it.each(['jpeg', 'png', 'webp'] as const)(
    'makes every variant of a %s, never upscaled, and marks the upload done',
    async (format) => {
      const seed = await start();
      const img = await makeImage(format, 900, 600);
      const jobId = await seed.seed('upload-0001', img, { format, width: 900, height: 600 });
      const rec = await waitFor(async () => {
        const r = await seed.records.get('upload-0001');
        return r?.status === 'done' ? r : undefined;
      }, 30_000);
      expect(rec.progress).toBe(100);
      // Bull Board shows the job's own progress: 100 once done, not the 99 of the last variant (issue 9).
      const job = await waitFor(async () => {
        const j = await seed.producer.queue('images').getJob(jobId);
        return j?.finishedOn ? j : undefined;
      }, 30_000);
      expect(job.progress).toBe(100);
      const expected = planVariants({ format, sizes: [128, 512, 1024] });
      expect(rec.variants.map((v) => v.name)).toEqual(expected.map((v) => v.name));
      for (const v of rec.variants) {
        const meta = await sharp(await seed.storage.get(v.key)).metadata();
        const width = Math.min(Number(v.name.split('.')[0]), 900);
        expect(meta.format).toBe(v.format);
        expect([meta.width, meta.height, v.width]).toEqual([width, Math.round((width * 600) / 900), width]);
      }
      expect(filesUnder(dir)).toEqual(
        [...expected.map((v) => `uploads/upload-0001/${v.name}`), uploadKeys.original('upload-0001')].sort(),
      );
    },
  );

  it.each(['gif', 'avif', 'tiff'] as const)('keeps the original format of a %s beside the WebP', async (format) => {
    const seed = await start();
    await seed.seed(`upload-${format}1`, await makeImage(format, 300, 200), {
      format,
      width: 300,
      height: 200,
      sizes: [128],
    });
    const rec = await waitFor(async () => {
      const r = await seed.records.get(`upload-${format}1`);
      return r?.status === 'done' ? r : undefined;
    }, 30_000);
    expect(rec.variants.map((v) => v.name)).toEqual(['128.webp', `128.${format}`]);
    for (const v of rec.variants) {
      const meta = await sharp(await seed.storage.get(v.key)).metadata();
      expect([meta.format === 'heif' ? 'avif' : meta.format, meta.width, meta.height]).toEqual([v.format, 128, 85]);
    }
  });

  it('applies the EXIF orientation and strips metadata', async () => {
    const seed = await start();
    // 300x200 stored, orientation 6 (rotate 90° clockwise): shown 200 wide and 300 high.
    const img = await makeImage('jpeg', 300, 200, { orientation: 6 });
    expect((await sharp(img).metadata()).orientation).toBe(6);
    await seed.seed('upload-exif1', img, { format: 'jpeg', width: 200, height: 300, sizes: [128] });
    const rec = await waitFor(async () => {
      const r = await seed.records.get('upload-exif1');
      return r?.status === 'done' ? r : undefined;
    }, 30_000);
    for (const v of rec.variants) {
      const meta = await sharp(await seed.storage.get(v.key)).metadata();
      expect([meta.width, meta.height]).toEqual([128, 192]);
      expect(meta.orientation).toBeUndefined();
      expect(meta.exif).toBeUndefined();
    }
  });

  it('dead-letters an upload whose original is gone and marks it dead', async () => {
    const seed = await start();
    const now = new Date().toISOString();
    await seed.records.create({
      uploadId: 'upload-gone2',
      status: 'queued',
      progress: 0,
      format: 'png',
      width: 100,
      height: 100,
      bytes: 1,
      originalKey: 'uploads/upload-gone2/original',
      sizes: [128],
      variants: [],
      jobId: 'image.resize#upload-gone2',
      hasCallback: false,
      createdAt: now,
      updatedAt: now,
    });
    await seed.producer.enqueue('image.resize', {
      uploadId: 'upload-gone2',
      originalKey: 'uploads/upload-gone2/original',
      format: 'png',
      width: 100,
      height: 100,
    });
    const rec = await waitFor(async () => {
      const r = await seed.records.get('upload-gone2');
      return r?.status === 'dead' ? r : undefined;
    }, 20_000);
    expect(rec.error?.code).toBe('IMAGE_ORIGINAL_MISSING');
    const letter = await seed.producer.queue('images.dead').getJob('image.resize#upload-gone2');
    expect(letter?.data.attempts).toHaveLength(1);
  });
});
