import { closeRedis, createProducer, createRedisConnection } from '@bullpen/jobs';
import { Queue } from 'bullmq';
import type { BenchContext } from '../lib/bench-context.ts';
import { freshPrefix } from '../lib/bench-context.ts';
import { benchRegistry } from '../lib/jobs.ts';
import { callsBetween, commandCalls, redisCpuSeconds } from '../lib/redis.ts';
import { row, type Section } from '../lib/report.ts';
import { round } from '../lib/stats.ts';

type Mode = 'one-by-one' | '50 in flight' | 'bulk of 1000';
type Side = 'bullpen' | 'bullpen-keyless' | 'raw';

interface Measure {
  perS: number;
  redisCpuUsPerJob: number;
  commandsPerJob: Record<string, number>;
}

async function measure(ctx: BenchContext, side: Side, mode: Mode, n: number): Promise<Measure> {
  const prefix = freshPrefix(`enq-${side}`);
  const conn = createRedisConnection(ctx.redis.url, 'producer');
  // Bullpen: validation, idempotency key (bench.keyed) and an active backlog cap (never reached).
  const producer = createProducer(benchRegistry, { connection: conn, prefix, maxBacklog: 1_000_000_000 });
  const raw = new Queue('benchk', { connection: conn, prefix });
  await conn.ping();
  const one = async (i: number) => {
    if (side === 'raw') await raw.add('bench.keyed', { id: `k${i}`, n: i });
    else if (side === 'bullpen') await producer.enqueue('bench.keyed', { id: `k${i}`, n: i });
    else await producer.enqueue('bench.noop', { n: i });
  };
  const cpu0 = await redisCpuSeconds(ctx.admin);
  const cmd0 = await commandCalls(ctx.admin);
  const t0 = performance.now();
  if (mode === 'one-by-one') {
    for (let i = 0; i < n; i++) await one(i);
  } else if (mode === '50 in flight') {
    let next = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < n) await one(next++);
      }),
    );
  } else {
    for (let i = 0; i < n; i += 1000) {
      const ids = Array.from({ length: Math.min(1000, n - i) }, (_, k) => i + k);
      if (side === 'raw') await raw.addBulk(ids.map((j) => ({ name: 'bench.keyed', data: { id: `k${j}`, n: j } })));
      else if (side === 'bullpen')
        await producer.enqueueBulk(ids.map((j) => ({ name: 'bench.keyed', payload: { id: `k${j}`, n: j } })));
      else await producer.enqueueBulk(ids.map((j) => ({ name: 'bench.noop', payload: { n: j } })));
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = await redisCpuSeconds(ctx.admin);
  const cmd1 = await commandCalls(ctx.admin);
  await producer.close();
  await raw.close();
  await closeRedis(conn);
  await ctx.admin.flushall();
  const perJob: Record<string, number> = {};
  for (const [k, v] of Object.entries(callsBetween(cmd0, cmd1))) if (k !== 'info') perJob[k] = round(v / n, 3);
  return { perS: n / seconds, redisCpuUsPerJob: ((cpu1 - cpu0) / n) * 1e6, commandsPerJob: perJob };
}

export async function enqueueBench(ctx: BenchContext): Promise<Section> {
  const sizes: Record<Mode, number> = ctx.quick
    ? { 'one-by-one': 1000, '50 in flight': 5000, 'bulk of 1000': 10_000 }
    : { 'one-by-one': 3000, '50 in flight': 20_000, 'bulk of 1000': 40_000 };
  const rows = [];
  const commands: Record<string, unknown> = {};
  for (const mode of Object.keys(sizes) as Mode[]) {
    const m: Record<Side, Measure[]> = { bullpen: [], 'bullpen-keyless': [], raw: [] };
    for (let rep = 0; rep < ctx.reps; rep++) {
      for (const side of ['bullpen', 'raw', 'bullpen-keyless'] as Side[]) {
        m[side].push(await measure(ctx, side, mode, sizes[mode]));
      }
      ctx.log(
        `enqueue ${mode} rep ${rep + 1}: bullpen ${m.bullpen.at(-1)!.perS.toFixed(0)}/s, raw ${m.raw.at(-1)!.perS.toFixed(0)}/s`,
      );
    }
    const api = mode === 'bulk of 1000' ? '`enqueueBulk` vs `addBulk`' : '`enqueue` vs `Queue.add`';
    rows.push(
      row(
        `${api}, ${mode}`,
        'jobs/s',
        m.bullpen.map((x) => x.perS),
        m.raw.map((x) => x.perS),
        { op: '>=', value: 0.9 },
      ),
      row(
        `same, keyless job (no EXISTS)`,
        'jobs/s',
        m['bullpen-keyless'].map((x) => x.perS),
        m.raw.map((x) => x.perS),
      ),
      row(
        `Redis CPU per job, ${mode}`,
        'µs',
        m.bullpen.map((x) => x.redisCpuUsPerJob),
        m.raw.map((x) => x.redisCpuUsPerJob),
        undefined,
        1,
      ),
    );
    commands[mode] = {
      bullpen: m.bullpen.at(-1)!.commandsPerJob,
      keyless: m['bullpen-keyless'].at(-1)!.commandsPerJob,
      raw: m.raw.at(-1)!.commandsPerJob,
    };
  }
  return {
    id: 'enqueue',
    title: '2. Enqueue throughput (producer)',
    baselineName: 'raw BullMQ Queue',
    rows,
    extra: { jobsPerRun: sizes, commandsPerJob: commands },
    notes: [
      'Bullpen: `bench.keyed` (zod schema, idempotency key → job id and an EXISTS in the same round trip, backlog ' +
        'cap active) and `bench.noop` (keyless). Raw: `Queue.add(name, data)` / `addBulk` with default options, same connection type.',
    ],
  };
}
