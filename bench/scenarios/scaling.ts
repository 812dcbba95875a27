import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TsProcess } from '@bullpen/test-utils';
import { Queue } from 'bullmq';
import { spawnWorkerApp } from '../lib/apps.ts';
import type { BenchContext } from '../lib/bench-context.ts';
import { freshPrefix } from '../lib/bench-context.ts';
import { noiseJpeg } from '../lib/images.ts';
import { sleep } from '../lib/proc.ts';
import { row, type Section } from '../lib/report.ts';
import { acceptUploads } from '../lib/uploads.ts';

async function throughput(
  ctx: BenchContext,
  image: Buffer,
  processes: number,
  count: number,
  cfg: { concurrency: number; sharpThreads: number },
) {
  const prefix = freshPrefix(`scale${processes}`);
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-scale-'));
  const uploads = await acceptUploads(ctx.redis.url, prefix, dir, image, { width: 1600, height: 1200 }, count);
  const procs: TsProcess[] = [];
  const q = new Queue('images', { connection: ctx.admin, prefix });
  try {
    for (let i = 0; i < processes; i++) {
      procs.push(
        spawnWorkerApp(
          {
            REDIS_URL: ctx.redis.url,
            BULLPEN_PREFIX: prefix,
            STORAGE_DIR: dir,
            WORKER_CONCURRENCY: String(cfg.concurrency),
            SHARP_CONCURRENCY: String(cfg.sharpThreads),
            WORKER_QUEUES: 'images',
            LOG_LEVEL: 'info',
          },
          { built: true },
        ),
      );
    }
    await Promise.all(procs.map((p) => p.waitForOutput(/worker\.started/, 30_000)));
    const t0 = performance.now();
    await uploads.release();
    while ((await q.getCompletedCount()) < count) await sleep(50);
    return count / ((performance.now() - t0) / 1000);
  } finally {
    await Promise.all(procs.map((p) => p.kill()));
    await q.close();
    await uploads.close();
    rmSync(dir, { recursive: true, force: true });
    await ctx.admin.flushall();
  }
}

export async function scalingBench(ctx: BenchContext): Promise<Section> {
  const count = ctx.quick ? 12 : 32;
  const image = await noiseJpeg(1600, 1200);
  const rows = [];
  const extra: Record<string, unknown> = { imagesPerRun: count };
  // Two configurations: one job and one sharp thread per process (a process uses about one core), and the
  // defaults' shape (2 jobs at once, sharp threads = CPUs: one process already keeps both cores busy).
  const configs = [
    { concurrency: 1, sharpThreads: 1 },
    { concurrency: 2, sharpThreads: 0 },
  ];
  for (const cfg of configs) {
    const label = `WORKER_CONCURRENCY=${cfg.concurrency}, SHARP_CONCURRENCY=${cfg.sharpThreads}`;
    const one: number[] = [];
    const two: number[] = [];
    for (let rep = 0; rep < ctx.reps; rep++) {
      one.push(await throughput(ctx, image, 1, count, cfg));
      two.push(await throughput(ctx, image, 2, count, cfg));
      ctx.log(
        `scaling ${label} rep ${rep + 1}: 1 proc ${one.at(-1)!.toFixed(2)}/s, 2 procs ${two.at(-1)!.toFixed(2)}/s`,
      );
    }
    rows.push(
      row(
        `images/s, 2 worker processes vs 1 (${label})`,
        'images/s',
        two,
        one,
        cfg.concurrency === 1 ? { op: '>=', value: 1.7 } : undefined,
        2,
      ),
    );
    extra[label] = { oneProcess: one, twoProcesses: two };
  }
  return {
    id: 'scaling',
    title: '6. Scaling: image.resize with 1 and 2 worker processes',
    baselineName: '1 worker process',
    rows,
    extra,
    notes: [
      `${count} uploads of a 1600×1200 JPEG, 6 variants each; each process is \`node apps/worker/dist/main.js\` with ` +
        'the settings shown; timed from the bulk enqueue to the last completed job. The ratio is 2 processes / 1 process.',
    ],
  };
}
