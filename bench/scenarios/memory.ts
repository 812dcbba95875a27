import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { closeRedis, createProducer, createRedisConnection } from '@bullpen/jobs';
import { freePort, spawnTs } from '@bullpen/test-utils';
import autocannon from 'autocannon';
import { Queue } from 'bullmq';
import { spawnApi, waitHttp } from '../lib/apps.ts';
import type { BenchContext } from '../lib/bench-context.ts';
import { freshPrefix } from '../lib/bench-context.ts';
import { jpeg200k } from '../lib/images.ts';
import { benchRegistry } from '../lib/jobs.ts';
import { fileBody } from '../lib/multipart.ts';
import { rssMb, sleep } from '../lib/proc.ts';
import { row, type Section, single } from '../lib/report.ts';

const r = (n: number) => Math.round(n);

/** Worker RSS while it runs `total` no-op jobs, fed in bulk so the backlog stays under 20k. */
async function workerRss(ctx: BenchContext, total: number, raw = false) {
  const prefix = freshPrefix('mem');
  const proc = spawnTs(path.join(import.meta.dirname, 'noop-worker-process.ts'), {
    source: false,
    env: { REDIS_URL: ctx.redis.url, BENCH_PREFIX: prefix, CONCURRENCY: '50', RAW: raw ? '1' : '0' },
  });
  const conn = createRedisConnection(ctx.redis.url, 'producer');
  const producer = createProducer(benchRegistry, { connection: conn, prefix });
  const q = producer.queue('bench');
  const samples: { s: number; done: number; rssMb: number }[] = [];
  try {
    await proc.waitForOutput(/worker ready/, 30_000);
    const t0 = Date.now();
    const sample = async () =>
      samples.push({ s: (Date.now() - t0) / 1000, done: await q.getCompletedCount(), rssMb: rssMb(proc.pid) });
    await sample();
    let sent = 0;
    let lastSample = Date.now();
    while (true) {
      const waiting = await q.getWaitingCount();
      if (sent < total && waiting < 20_000) {
        const n = Math.min(2000, total - sent);
        await producer.enqueueBulk(
          Array.from({ length: n }, (_, k) => ({ name: 'bench.noop' as const, payload: { n: sent + k } })),
        );
        sent += n;
      } else await sleep(100);
      if (Date.now() - lastSample >= 1000) {
        await sample();
        lastSample = Date.now();
        if (samples.at(-1)!.done >= total) break;
      }
      if (Date.now() - t0 > 300_000) throw new Error('worker memory run did not finish in 300 s');
    }
    const rss = samples.map((x) => x.rssMb);
    const quarter = samples.filter((x) => x.done >= total / 4);
    return {
      jobs: total,
      seconds: samples.at(-1)!.s,
      startMb: r(rss[0]!),
      afterQuarterMb: r(quarter[0]?.rssMb ?? Number.NaN),
      endMb: r(rss.at(-1)!),
      maxMb: r(Math.max(...rss)),
      samples: samples.map((x) => [r(x.s), x.done, r(x.rssMb)]),
    };
  } finally {
    await proc.kill();
    await producer.close();
    await closeRedis(conn);
    await ctx.admin.flushall();
  }
}

/** API RSS during an upload burst against a full queue (every answer a 503 after the body is read). */
async function apiBurstRss(ctx: BenchContext, seconds: number) {
  const prefix = freshPrefix('memapi');
  const dir = mkdtempSync(path.join(tmpdir(), 'bullpen-bench-mem-'));
  const port = await freePort();
  const api = spawnApi(
    {
      REDIS_URL: ctx.redis.url,
      BULLPEN_PREFIX: prefix,
      STORAGE_DIR: dir,
      API_PORT: String(port),
      QUEUE_MAX_BACKLOG: '100',
    },
    { built: true },
  );
  const fillConn = createRedisConnection(ctx.redis.url, 'producer');
  const images = new Queue('images', { connection: fillConn, prefix });
  try {
    await images.addBulk(Array.from({ length: 200 }, (_, i) => ({ name: 'image.resize', data: { i } })));
    await waitHttp(`http://127.0.0.1:${port}/healthz`, api);
    const { body, contentType } = fileBody(await jpeg200k());
    const rss = [rssMb(api.pid)];
    const timer = setInterval(() => rss.push(rssMb(api.pid)), 250);
    const res = await autocannon({
      url: `http://127.0.0.1:${port}/uploads`,
      method: 'POST',
      connections: 50,
      duration: seconds,
      headers: { 'content-type': contentType },
      body,
    });
    clearInterval(timer);
    await sleep(1000);
    rss.push(rssMb(api.pid));
    return {
      seconds,
      requests: res.requests.total,
      statuses: Object.fromEntries(Object.entries(res.statusCodeStats).map(([k, v]) => [k, v.count])),
      uploadBytesPerRequest: body.length,
      startMb: r(rss[0]!),
      maxMb: r(Math.max(...rss)),
      endMb: r(rss.at(-1)!),
    };
  } finally {
    await api.kill();
    await images.close();
    await closeRedis(fillConn);
    rmSync(dir, { recursive: true, force: true });
    await ctx.admin.flushall();
  }
}

export async function memoryBench(ctx: BenchContext): Promise<Section> {
  const total = ctx.quick ? 50_000 : 200_000;
  const w = await workerRss(ctx, total);
  ctx.log(`memory: worker ${w.startMb} → ${w.endMb} MB (max ${w.maxMb}) over ${total} jobs in ${w.seconds} s`);
  const rw = await workerRss(ctx, total, true);
  ctx.log(`memory: raw worker ${rw.startMb} → ${rw.endMb} MB (max ${rw.maxMb}) over ${total} jobs in ${rw.seconds} s`);
  const a = await apiBurstRss(ctx, ctx.quick ? 4 : 10);
  ctx.log(`memory: api ${a.startMb} → ${a.endMb} MB (max ${a.maxMb}), ${a.requests} requests`);
  return {
    id: 'memory',
    title: '7. Memory',
    baselineName: 'raw BullMQ Worker process',
    rows: [
      row(`worker RSS at start`, 'MB', [w.startMb], [rw.startMb]),
      row(`worker RSS after ${total / 4} jobs`, 'MB', [w.afterQuarterMb], [rw.afterQuarterMb]),
      row(`worker RSS after ${total} jobs`, 'MB', [w.endMb], [rw.endMb]),
      row(`worker RSS max`, 'MB', [w.maxMb], [rw.maxMb]),
      row(`seconds for ${total} jobs`, 's', [w.seconds], [rw.seconds], undefined, 1),
      single(`API RSS before the burst`, 'MB', [a.startMb]),
      single(`API RSS max during ${a.requests} uploads against a full queue`, 'MB', [a.maxMb]),
      single(`API RSS 1 s after the burst`, 'MB', [a.endMb]),
    ],
    extra: { worker: w, rawWorker: rw, api: a },
    notes: [
      'One run each (no repeats): a memory curve, not a rate. ' +
        `Worker: its own process (createWorker, concurrency 50, metrics), ${total} no-op jobs fed in bulk, RSS from ` +
        `/proc every second (samples in the JSON). API: \`node apps/api/dist/main.js\` with QUEUE_MAX_BACKLOG=100 and 200 ` +
        `jobs queued, 50 connections posting a ${Math.round(a.uploadBytesPerRequest / 1024)} KB JPEG for ${a.seconds} s; ` +
        `answers: ${JSON.stringify(a.statuses)}.`,
    ],
  };
}
