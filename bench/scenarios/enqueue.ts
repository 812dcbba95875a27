import { closeRedis, createProducer, createRedisConnection, jobIdFor, jobOptions } from '@bullpen/jobs';
import { Queue } from 'bullmq';
import type { BenchContext } from '../lib/bench-context.ts';
import { freshPrefix } from '../lib/bench-context.ts';
import { benchKeyed, benchNoop, benchRegistry } from '../lib/jobs.ts';
import { callsBetween, commandCalls, redisCpuSeconds } from '../lib/redis.ts';
import { row, type Section } from '../lib/report.ts';
import { round } from '../lib/stats.ts';

export type Mode = 'one-by-one' | '50 in flight' | 'bulk of 1000';
/**
 * Bullpen keyed (answers `deduplicated`: an EXISTS beside the add), keyed with `newKey` (one command, as raw
 * BullMQ), keyless; raw BullMQ with the same job id and options (keyed, keyless), and with BullMQ's defaults.
 */
const SIDES = ['bullpen', 'bullpen-new-key', 'bullpen-keyless', 'raw-keyed', 'raw-keyless', 'raw-defaults'] as const;
export type Side = (typeof SIDES)[number];

const keyedOpts = (id: string) => jobOptions(benchKeyed, { jobId: jobIdFor(benchKeyed.name, id) });
const keylessOpts = jobOptions(benchNoop);

interface Measure {
  perS: number;
  redisCpuUsPerJob: number;
  commandsPerJob: Record<string, number>;
}

export async function measureEnqueue(ctx: BenchContext, side: Side, mode: Mode, n: number): Promise<Measure> {
  const prefix = freshPrefix(`enq-${side}`);
  const conn = createRedisConnection(ctx.redis.url, 'producer');
  // Bullpen: validation, idempotency key (bench.keyed) and an active backlog cap (never reached).
  const producer = createProducer(benchRegistry, { connection: conn, prefix, maxBacklog: 1_000_000_000 });
  const raw = new Queue('benchk', { connection: conn, prefix });
  await conn.ping();
  const one = async (i: number) => {
    const id = `k${i}`;
    if (side === 'bullpen') await producer.enqueue('bench.keyed', { id, n: i });
    else if (side === 'bullpen-new-key') await producer.enqueue('bench.keyed', { id, n: i }, { newKey: true });
    else if (side === 'bullpen-keyless') await producer.enqueue('bench.noop', { n: i });
    else if (side === 'raw-keyed') await raw.add('bench.keyed', { id, n: i }, keyedOpts(id));
    else if (side === 'raw-keyless') await raw.add('bench.noop', { n: i }, keylessOpts);
    else await raw.add('bench.keyed', { id, n: i });
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
      const keyed = (j: number) => ({ name: 'bench.keyed' as const, payload: { id: `k${j}`, n: j } });
      if (side === 'bullpen') await producer.enqueueBulk(ids.map(keyed));
      else if (side === 'bullpen-new-key')
        await producer.enqueueBulk(ids.map((j) => ({ ...keyed(j), opts: { newKey: true } })));
      else if (side === 'bullpen-keyless')
        await producer.enqueueBulk(ids.map((j) => ({ name: 'bench.noop', payload: { n: j } })));
      else if (side === 'raw-keyed')
        await raw.addBulk(
          ids.map((j) => ({ name: 'bench.keyed', data: { id: `k${j}`, n: j }, opts: keyedOpts(`k${j}`) })),
        );
      else if (side === 'raw-keyless')
        await raw.addBulk(ids.map((j) => ({ name: 'bench.noop', data: { n: j }, opts: keylessOpts })));
      else await raw.addBulk(ids.map((j) => ({ name: 'bench.keyed', data: { id: `k${j}`, n: j } })));
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
    const m = Object.fromEntries(SIDES.map((side) => [side, [] as Measure[]])) as Record<Side, Measure[]>;
    for (let rep = 0; rep < ctx.reps; rep++) {
      for (const side of SIDES) m[side].push(await measureEnqueue(ctx, side, mode, sizes[mode]));
      const last = (side: Side) => m[side].at(-1)!.perS.toFixed(0);
      ctx.log(
        `enqueue ${mode} rep ${rep + 1}: keyed ${last('bullpen')}/s, new key ${last('bullpen-new-key')}/s, raw keyed ${last('raw-keyed')}/s`,
      );
    }
    const perS = (side: Side) => m[side].map((x) => x.perS);
    const api = mode === 'bulk of 1000' ? '`enqueueBulk` vs `addBulk`' : '`enqueue` vs `Queue.add`';
    rows.push(
      row(
        `${api}, ${mode}, keyed, new key (one command, as raw)`,
        'jobs/s',
        perS('bullpen-new-key'),
        perS('raw-keyed'),
        { op: '>=', value: 0.9 },
      ),
      row(`same, keyless`, 'jobs/s', perS('bullpen-keyless'), perS('raw-keyless'), { op: '>=', value: 0.9 }),
      row(
        `same, keyed, answering \`deduplicated\` (EXISTS beside the add)`,
        'jobs/s',
        perS('bullpen'),
        perS('raw-keyed'),
      ),
      row(
        `same, keyed, vs raw with BullMQ's defaults (no id, no options)`,
        'jobs/s',
        perS('bullpen'),
        perS('raw-defaults'),
      ),
      row(
        `Redis CPU per job, ${mode}, keyed new key vs raw keyed`,
        'µs',
        m['bullpen-new-key'].map((x) => x.redisCpuUsPerJob),
        m['raw-keyed'].map((x) => x.redisCpuUsPerJob),
        undefined,
        1,
      ),
    );
    commands[mode] = Object.fromEntries(SIDES.map((side) => [side, m[side].at(-1)!.commandsPerJob]));
  }
  return {
    id: 'enqueue',
    title: '2. Enqueue throughput (producer)',
    baselineName: 'raw BullMQ Queue',
    rows,
    extra: { jobsPerRun: sizes, commandsPerJob: commands },
    notes: [
      'Bullpen: `bench.keyed` (zod schema, idempotency key → job id, backlog cap active; checked: an EXISTS in ' +
        'the same round trip answers `deduplicated`; `newKey`: one command) and `bench.noop` (keyless). Raw: ' +
        "`Queue.add` / `addBulk` with the same job id and `jobOptions(def)`, and once with BullMQ's defaults.",
    ],
  };
}
