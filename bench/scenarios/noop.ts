import { closeRedis, createMetrics, createProducer, createRedisConnection, createWorker } from '@bullpen/jobs';
import { Queue, Worker } from 'bullmq';
import type { BenchContext } from '../lib/bench-context.ts';
import { freshPrefix } from '../lib/bench-context.ts';
import { benchRegistry } from '../lib/jobs.ts';
import { sleep } from '../lib/proc.ts';
import { callsBetween, commandCalls, redisCpuSeconds } from '../lib/redis.ts';
import { row, type Section } from '../lib/report.ts';
import { round } from '../lib/stats.ts';

interface Measure {
  perS: number;
  redisCpuUsPerJob: number;
  commandsPerJob: Record<string, number>;
}

type Side = 'bullpen' | 'raw' | 'raw-bullpen-opts';

/** The job options Bullpen's producer writes for `bench.noop` (see createProducer's prepare()). */
const BULLPEN_OPTS = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 1000 },
  stackTraceLimit: 4,
  removeOnComplete: { age: 24 * 3600 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

async function fill(ctx: BenchContext, side: Side, prefix: string, n: number) {
  const conn = createRedisConnection(ctx.redis.url, 'producer');
  try {
    if (side === 'bullpen') {
      const producer = createProducer(benchRegistry, { connection: conn, prefix });
      for (let i = 0; i < n; i += 1000) {
        const len = Math.min(1000, n - i);
        await producer.enqueueBulk(
          Array.from({ length: len }, (_, k) => ({ name: 'bench.noop' as const, payload: { n: i + k } })),
        );
      }
      await producer.close();
    } else {
      const q = new Queue('bench', { connection: conn, prefix });
      for (let i = 0; i < n; i += 1000) {
        const len = Math.min(1000, n - i);
        const opts = side === 'raw-bullpen-opts' ? BULLPEN_OPTS : undefined;
        await q.addBulk(Array.from({ length: len }, (_, k) => ({ name: 'bench.noop', data: { n: i + k }, opts })));
      }
      await q.close();
    }
  } finally {
    await closeRedis(conn);
  }
}

/** Processes `n` queued no-op jobs at `concurrency`; times the run and Redis's CPU and commands. */
export async function drainNoop(ctx: BenchContext, side: Side, concurrency: number, n: number): Promise<Measure> {
  const prefix = freshPrefix(`noop-${side}`);
  await fill(ctx, side, prefix, n);
  const conn = createRedisConnection(ctx.redis.url, 'worker');
  let done = 0;
  let resolveAll!: () => void;
  const all = new Promise<void>((r) => {
    resolveAll = r;
  });
  const onDone = () => {
    if (++done === n) resolveAll();
  };
  const cpu0 = await redisCpuSeconds(ctx.admin);
  const cmd0 = await commandCalls(ctx.admin);
  const t0 = performance.now();
  let close: () => Promise<unknown>;
  if (side === 'bullpen') {
    const w = createWorker(
      benchRegistry,
      { 'bench.noop': () => undefined },
      { connection: conn, prefix, queues: ['bench'], concurrency, metrics: createMetrics() },
    );
    w.workers[0]!.on('completed', onDone);
    close = () => w.close({ deadlineMs: 5000 });
  } else {
    const w = new Worker('bench', async () => undefined, { connection: conn, prefix, concurrency });
    w.on('completed', onDone);
    w.on('error', () => {});
    close = () => w.close();
  }
  await all;
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = await redisCpuSeconds(ctx.admin);
  const cmd1 = await commandCalls(ctx.admin);
  await close();
  await closeRedis(conn);
  await ctx.admin.flushall();
  const perJob: Record<string, number> = {};
  for (const [k, v] of Object.entries(callsBetween(cmd0, cmd1))) {
    if (k !== 'info') perJob[k] = round(v / n, 3);
  }
  return { perS: n / seconds, redisCpuUsPerJob: ((cpu1 - cpu0) / n) * 1e6, commandsPerJob: perJob };
}

export async function noopBench(ctx: BenchContext): Promise<Section> {
  const levels = [1, 10, 50];
  const jobsAt = (c: number) => (ctx.quick ? (c === 1 ? 2000 : 5000) : c === 1 ? 5000 : 20_000);
  const rows = [];
  const commands: Record<string, unknown> = {};
  for (const c of levels) {
    const a: Measure[] = [];
    const b: Measure[] = [];
    for (let rep = 0; rep < ctx.reps; rep++) {
      a.push(await drainNoop(ctx, 'bullpen', c, jobsAt(c)));
      await sleep(200);
      b.push(await drainNoop(ctx, 'raw', c, jobsAt(c)));
      await sleep(200);
      ctx.log(`noop c=${c} rep ${rep + 1}: bullpen ${a.at(-1)!.perS.toFixed(0)}/s, raw ${b.at(-1)!.perS.toFixed(0)}/s`);
    }
    rows.push(
      row(
        `no-op jobs/s, concurrency ${c}`,
        'jobs/s',
        a.map((m) => m.perS),
        b.map((m) => m.perS),
        { op: '>=', value: 0.9 },
      ),
      row(
        `Redis CPU per job, concurrency ${c}`,
        'µs',
        a.map((m) => m.redisCpuUsPerJob),
        b.map((m) => m.redisCpuUsPerJob),
        { op: '<=', value: 1.15 },
        1,
      ),
    );
    commands[`concurrency${c}`] = { bullpen: a.at(-1)!.commandsPerJob, raw: b.at(-1)!.commandsPerJob };
  }
  // Attribution: a raw Worker on jobs carrying Bullpen's job options (age-based removal, attempts, backoff,
  // stackTraceLimit). What is left between this and Bullpen is the processor wrapper's own cost.
  const a: Measure[] = [];
  const b: Measure[] = [];
  for (let rep = 0; rep < ctx.reps; rep++) {
    a.push(await drainNoop(ctx, 'bullpen', 10, jobsAt(10)));
    b.push(await drainNoop(ctx, 'raw-bullpen-opts', 10, jobsAt(10)));
    ctx.log(`noop c=10 vs raw with Bullpen's job options, rep ${rep + 1}`);
  }
  rows.push(
    row(
      "no-op jobs/s, c 10, vs raw Worker on jobs with Bullpen's job options",
      'jobs/s',
      a.map((m) => m.perS),
      b.map((m) => m.perS),
    ),
    row(
      "Redis CPU per job, c 10, vs raw Worker on jobs with Bullpen's job options",
      'µs',
      a.map((m) => m.redisCpuUsPerJob),
      b.map((m) => m.redisCpuUsPerJob),
      undefined,
      1,
    ),
  );
  commands.rawWithBullpenOpts = b.at(-1)!.commandsPerJob;
  return {
    id: 'noop',
    title: '1. No-op job throughput (worker)',
    baselineName: 'raw BullMQ Worker',
    rows,
    extra: { jobsPerRun: Object.fromEntries(levels.map((c) => [c, jobsAt(c)])), commandsPerJob: commands },
    notes: [
      'Jobs are queued first (not timed); the run is timed from creating the worker to the last `completed` event. ' +
        'Bullpen: `createWorker` with metrics, jobs from `createProducer` (keyless). Raw: `new Worker` on jobs from `addBulk`.',
    ],
  };
}
