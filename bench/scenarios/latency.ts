import { closeRedis, createProducer, createRedisConnection, createWorker } from '@bullpen/jobs';
import { type Job, Queue, Worker } from 'bullmq';
import type { BenchContext } from '../lib/bench-context.ts';
import { freshPrefix } from '../lib/bench-context.ts';
import { benchRegistry } from '../lib/jobs.ts';
import { sleep } from '../lib/proc.ts';
import { row, type Section } from '../lib/report.ts';
import { quantile } from '../lib/stats.ts';

const RATE = 1000;
const now = () => performance.timeOrigin + performance.now();

interface Measure {
  startP50: number;
  startP99: number;
  doneP50: number;
  doneP99: number;
  achievedPerS: number;
}

async function measure(ctx: BenchContext, side: 'bullpen' | 'raw', seconds: number): Promise<Measure> {
  const prefix = freshPrefix(`lat-${side}`);
  const pconn = createRedisConnection(ctx.redis.url, 'producer');
  const wconn = createRedisConnection(ctx.redis.url, 'worker');
  const producer = createProducer(benchRegistry, { connection: pconn, prefix });
  const raw = new Queue('bench', { connection: pconn, prefix });
  const warmupUntil = now() + 1000;
  const toStart: number[] = [];
  const toDone: number[] = [];
  const sentAt = (job: Job) => (side === 'bullpen' ? job.data.payload.t : job.data.t) as number;
  let close: () => Promise<unknown>;
  const onCompleted = (job: Job) => {
    const t = sentAt(job);
    if (t >= warmupUntil) toDone.push(now() - t);
  };
  if (side === 'bullpen') {
    const w = createWorker(
      benchRegistry,
      {
        'bench.noop': (p) => {
          if (p.t! >= warmupUntil) toStart.push(now() - p.t!);
        },
      },
      { connection: wconn, prefix, queues: ['bench'], concurrency: 10 },
    );
    await w.waitUntilReady();
    w.workers[0]!.on('completed', onCompleted);
    close = () => w.close({ deadlineMs: 5000 });
  } else {
    const w = new Worker(
      'bench',
      async (job) => {
        const t = job.data.t as number;
        if (t >= warmupUntil) toStart.push(now() - t);
      },
      { connection: wconn, prefix, concurrency: 10 },
    );
    w.on('error', () => {});
    await w.waitUntilReady();
    w.on('completed', onCompleted);
    close = () => w.close();
  }
  // Open loop: jobs are sent on schedule whatever the answers, in 10 ms ticks of RATE/100 jobs.
  const t0 = now();
  const total = Math.round(RATE * (seconds + 1));
  let sent = 0;
  const pending: Promise<unknown>[] = [];
  while (sent < total) {
    const due = Math.min(total, Math.floor(((now() - t0) / 1000) * RATE));
    for (; sent < due; sent++) {
      const t = now();
      pending.push(
        side === 'bullpen' ? producer.enqueue('bench.noop', { n: sent, t }) : raw.add('bench.noop', { n: sent, t }),
      );
    }
    await sleep(10);
  }
  await Promise.all(pending);
  const sentSeconds = (now() - t0) / 1000;
  const until = Date.now() + 20_000;
  const expected = total - Math.round(RATE);
  while (toDone.length < expected * 0.99 && Date.now() < until) await sleep(50);
  await sleep(200);
  await close();
  await producer.close();
  await raw.close();
  await closeRedis(pconn);
  await closeRedis(wconn);
  await ctx.admin.flushall();
  return {
    startP50: quantile(toStart, 0.5),
    startP99: quantile(toStart, 0.99),
    doneP50: quantile(toDone, 0.5),
    doneP99: quantile(toDone, 0.99),
    achievedPerS: total / sentSeconds,
  };
}

export async function latencyBench(ctx: BenchContext): Promise<Section> {
  const seconds = ctx.quick ? 3 : 8;
  const a: Measure[] = [];
  const b: Measure[] = [];
  for (let rep = 0; rep < ctx.reps; rep++) {
    a.push(await measure(ctx, 'bullpen', seconds));
    b.push(await measure(ctx, 'raw', seconds));
    ctx.log(
      `latency rep ${rep + 1}: bullpen p99 done ${a.at(-1)!.doneP99.toFixed(1)} ms, raw ${b.at(-1)!.doneP99.toFixed(1)} ms`,
    );
  }
  const pick = (k: keyof Measure) => [a.map((m) => m[k]), b.map((m) => m[k])] as const;
  return {
    id: 'latency',
    title: `5. Latency at a steady ${RATE} jobs/s`,
    baselineName: 'raw BullMQ',
    rows: [
      row('enqueue → handler start, p50', 'ms', ...pick('startP50'), undefined, 2),
      row('enqueue → handler start, p99', 'ms', ...pick('startP99'), undefined, 2),
      row('enqueue → completed, p50', 'ms', ...pick('doneP50'), undefined, 2),
      row('enqueue → completed, p99', 'ms', ...pick('doneP99'), undefined, 2),
      row('offered rate achieved', 'jobs/s', ...pick('achievedPerS')),
    ],
    extra: { secondsPerRun: seconds, warmupSeconds: 1 },
    notes: [
      `Open loop: ${RATE} jobs/s for ${seconds} s after 1 s of warm-up (not counted); worker concurrency 10 in the ` +
        'same process; "completed" is the Worker\'s `completed` event.',
    ],
  };
}
