import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '@bullpen/config';
import sharp from 'sharp';
import { buildWorker, configureSharp } from '../../apps/worker/src/app.ts';
import type { BenchContext } from '../lib/bench-context.ts';
import { freshPrefix } from '../lib/bench-context.ts';
import { noiseJpeg } from '../lib/images.ts';
import { sleep } from '../lib/proc.ts';
import { row, type Section } from '../lib/report.ts';
import { acceptUploads } from '../lib/uploads.ts';

const PARALLELISM = 4;
const WIDTHS = [128, 512, 1024];

/** Bullpen: the worker app (buildWorker: createWorker + the image.resize handler + storage + records). */
async function viaWorker(ctx: BenchContext, image: Buffer, count: number): Promise<number> {
  const prefix = freshPrefix('img');
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-img-b-'));
  const uploads = await acceptUploads(ctx.redis.url, prefix, dir, image, { width: 1600, height: 1200 }, count);
  const config = parseConfig('worker', {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    REDIS_URL: ctx.redis.url,
    BULLPEN_PREFIX: prefix,
    STORAGE_DIR: dir,
    WORKER_HTTP_PORT: '0',
    WORKER_CONCURRENCY: String(PARALLELISM),
    WORKER_QUEUES: 'images',
  });
  configureSharp(config);
  const app = await buildWorker(config);
  try {
    await app.worker.waitUntilReady();
    let done = 0;
    const all = new Promise<void>((resolve) => {
      app.worker.workers[0]!.on('completed', () => {
        if (++done === count) resolve();
      });
    });
    const t0 = performance.now();
    await uploads.release();
    await all;
    return count / ((performance.now() - t0) / 1000);
  } finally {
    await app.close({ deadlineMs: 5000 });
    await uploads.close();
    rmSync(dir, { recursive: true, force: true });
    await ctx.admin.flushall();
  }
}

/** Baseline: the same variants with sharp directly, from the same files, at the same parallelism. */
async function viaSharp(image: Buffer, count: number): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-img-r-'));
  const files = Array.from({ length: count }, (_, i) => path.join(dir, `original-${i}`));
  await Promise.all(files.map((f) => writeFile(f, image)));
  configureSharp({ SHARP_CONCURRENCY: 0 });
  const one = async (file: string) => {
    const original = await readFile(file);
    for (const width of WIDTHS) {
      for (const format of ['webp', 'jpeg'] as const) {
        const img = sharp(original, { failOn: 'truncated', autoOrient: true }).resize({
          width,
          withoutEnlargement: true,
        });
        const data = await (format === 'webp'
          ? img.webp({ quality: 80 })
          : img.jpeg({ quality: 82, progressive: true })
        ).toBuffer();
        const out = `${file}.${width}.${format}`;
        await writeFile(`${out}.tmp`, data);
        await rename(`${out}.tmp`, out);
      }
    }
  };
  try {
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: PARALLELISM }, async () => {
        while (next < count) await one(files[next++]!);
      }),
    );
    return count / ((performance.now() - t0) / 1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function imageBench(ctx: BenchContext): Promise<Section> {
  const count = ctx.quick ? 12 : 40;
  const image = await noiseJpeg(1600, 1200);
  mkdirSync(tmpdir(), { recursive: true });
  // Warm-up of sharp/libvips, not counted.
  await viaSharp(image, 2);
  const a: number[] = [];
  const b: number[] = [];
  for (let rep = 0; rep < ctx.reps; rep++) {
    a.push(await viaWorker(ctx, image, count));
    await sleep(200);
    b.push(await viaSharp(image, count));
    ctx.log(`image rep ${rep + 1}: worker ${a.at(-1)!.toFixed(2)}/s, sharp ${b.at(-1)!.toFixed(2)}/s`);
  }
  return {
    id: 'image',
    title: '4. Image throughput (image.resize)',
    baselineName: 'raw sharp',
    rows: [row('images/s (6 variants each)', 'images/s', a, b, { op: '>=', value: 0.95 }, 2)],
    extra: { imagesPerRun: count, parallelism: PARALLELISM, originalBytes: image.length },
    notes: [
      `${count} uploads of a 1600×1200 JPEG (${Math.round(image.length / 1024)} KB): 128, 512 and 1024 px as WebP and JPEG. ` +
        `Bullpen: \`buildWorker\` in the bench process, WORKER_CONCURRENCY=${PARALLELISM}, sharp threads = CPUs, timed from the ` +
        `bulk enqueue to the last completed job (steps, storage writes, status records, progress). Baseline: the same sharp ` +
        `calls and options, ${PARALLELISM} at a time, each variant written to a file and renamed.`,
    ],
  };
}
