import {
  closeRedis,
  createMetrics,
  createProducer,
  createRedisConnection,
  createWorker,
  jobOptions,
} from '@bullpen/jobs';
import { Queue, Worker } from 'bullmq';
import type { BenchContext } from '../lib/bench-context.ts';
import { freshPrefix } from '../lib/bench-context.ts';
import { benchNoop, benchRegistry } from '../lib/jobs.ts';
import { sleep } from '../lib/proc.ts';
import { callsBetween, commandCalls, redisCpuSeconds } from '../lib/redis.ts';
import { row, type Section } from '../lib/report.ts';
import { round } from '../lib/stats.ts';

interface Measure {
  perS: number;
  redisCpuUsPerJob: number;
  commandsPerJob: Record<string, number>;
}

type Side = 'bullpen' | 'raw' | 'raw-bullpen-opts' | 'raw-count-retention';

/** The job options Bullpen's producer writes for `bench.noop`: the same policy for the raw side. */
const BULLPEN_OPTS = jobOptions(benchNoop);

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
        const opts =
          side === 'raw-bullpen-opts'
            ? BULLPEN_OPTS
            : side === 'raw-count-retention'
              ? { ...BULLPEN_OPTS, removeOnComplete: { count: 1000 } }
              : undefined;
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
  let ceiling: { jobsPerS: number; redisCpuUsPerJob: number } | undefined;
  for (const c of levels) {
    const m: Record<Side, Measure[]> = { bullpen: [], 'raw-bullpen-opts': [], raw: [], 'raw-count-retention': [] };
    for (let rep = 0; rep < ctx.reps; rep++) {
      for (const side of ['bullpen', 'raw-bullpen-opts', 'raw'] as Side[]) {
        m[side].push(await drainNoop(ctx, side, c, jobsAt(c)));
        await sleep(200);
      }
      const last = (side: Side) => m[side].at(-1)!.perS.toFixed(0);
      ctx.log(
        `noop c=${c} rep ${rep + 1}: bullpen ${last('bullpen')}/s, raw same options ${last('raw-bullpen-opts')}/s, raw defaults ${last('raw')}/s`,
      );
    }
    const perS = (side: Side) => m[side].map((x) => x.perS);
    const cpu = (side: Side) => m[side].map((x) => x.redisCpuUsPerJob);
    rows.push(
      row(
        `no-op jobs/s, concurrency ${c}, vs raw with the same job options`,
        'jobs/s',
        perS('bullpen'),
        perS('raw-bullpen-opts'),
        { op: '>=', value: 0.9 },
      ),
      row(
        `Redis CPU per job, concurrency ${c}, vs raw with the same job options`,
        'µs',
        cpu('bullpen'),
        cpu('raw-bullpen-opts'),
        { op: '<=', value: 1.1 },
        1,
      ),
      row(
        `no-op jobs/s, concurrency ${c}, vs raw with BullMQ's defaults (framework + policy)`,
        'jobs/s',
        perS('bullpen'),
        perS('raw'),
      ),
    );
    commands[`concurrency${c}`] = {
      bullpen: m.bullpen.at(-1)!.commandsPerJob,
      rawSameOptions: m['raw-bullpen-opts'].at(-1)!.commandsPerJob,
      rawDefaults: m.raw.at(-1)!.commandsPerJob,
    };
    if (c === levels.at(-1)) {
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      ceiling = { jobsPerS: median(perS('raw')), redisCpuUsPerJob: median(cpu('raw')) };
    }
  }
  // Retention policy: completed jobs kept by age (Bullpen's default, one ZREVRANGEBYSCORE per finish) against a
  // count cap (a ZREMRANGEBYRANK), both on raw BullMQ, so only the policy differs.
  const byAge: Measure[] = [];
  const byCount: Measure[] = [];
  for (let rep = 0; rep < ctx.reps; rep++) {
    byAge.push(await drainNoop(ctx, 'raw-bullpen-opts', 10, jobsAt(10)));
    byCount.push(await drainNoop(ctx, 'raw-count-retention', 10, jobsAt(10)));
  }
  rows.push(
    row(
      'raw BullMQ c 10, completed kept by count (1000) vs by age (1 day): the retention policy alone',
      'jobs/s',
      byCount.map((x) => x.perS),
      byAge.map((x) => x.perS),
    ),
    row(
      'Redis CPU per job, same',
      'µs',
      byCount.map((x) => x.redisCpuUsPerJob),
      byAge.map((x) => x.redisCpuUsPerJob),
      undefined,
      1,
    ),
  );
  return {
    id: 'noop',
    title: '1. No-op job throughput (worker)',
    baselineName: 'raw BullMQ Worker',
    rows,
    extra: {
      jobsPerRun: Object.fromEntries(levels.map((c) => [c, jobsAt(c)])),
      commandsPerJob: commands,
      // What one Redis core can do for raw BullMQ here: the ceiling any framework on it shares.
      ceiling: ceiling && { ...ceiling, rawJobsPerRedisCoreSecond: Math.round(1e6 / ceiling.redisCpuUsPerJob) },
    },
    notes: [
      'Jobs are queued first (not timed); the run is timed from creating the worker to the last `completed` event. ' +
        'Bullpen: `createWorker` with metrics, jobs from `createProducer` (keyless). Raw: `new Worker` on jobs from ' +
        "`addBulk`, once with Bullpen's job options (`jobOptions(def)`: attempts, backoff, stack traces, age-based " +
        "retention) — the framework's own cost — and once with BullMQ's defaults — the framework's and the policy's.",
      `Ceiling: raw BullMQ at concurrency ${levels.at(-1)} is ${ceiling ? Math.round(1e6 / ceiling.redisCpuUsPerJob) : '?'} jobs per second of one Redis core on this machine.`,
    ],
  };
}
