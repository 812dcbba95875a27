// A worker process for the chaos suite: serves `chaos.effect` with a side effect inside ctx.step.
// Run with spawnTs (one process, so SIGKILL kills the program itself).
import { setTimeout as sleep } from 'node:timers/promises';
import { createRedisConnection, createWorker } from '@bullpen/jobs';
import { benchRegistry, chaosKeys } from '../lib/jobs.ts';

const env = process.env;
const prefix = env.BENCH_PREFIX!;
const keys = chaosKeys(prefix);
const conn = createRedisConnection(env.REDIS_URL!, 'worker');
const side = createRedisConnection(env.REDIS_URL!, 'worker');
conn.on('error', () => {});
side.on('error', () => {});

const worker = createWorker(
  benchRegistry,
  {
    'chaos.effect': async (p, ctx) => {
      await side
        .multi()
        .hset(keys.owner, ctx.job.id, process.pid)
        .hset(keys.started, ctx.job.id, Date.now())
        .hincrby(keys.starts, ctx.job.id, 1)
        .exec();
      // Half the work before the side effect, half after it: a kill in the second half finds the step recorded.
      await ctx.step('effect', async () => {
        if (p.workMs) await sleep(p.workMs / 2);
        const [[, runs] = []] =
          (await side
            .multi()
            .incr(keys.effect(p.n))
            .rpush(keys.effectLog(p.n), `${process.pid}:${Date.now()}`)
            .exec()) ?? [];
        return runs;
      });
      if (p.workMs) await sleep(p.workMs / 2);
    },
  },
  {
    connection: conn,
    prefix,
    queues: ['chaos'],
    concurrency: Number(env.CONCURRENCY ?? 10),
    ...(env.LOCK_MS ? { lockDurationMs: Number(env.LOCK_MS) } : {}),
    ...(env.STALLED_MS ? { stalledIntervalMs: Number(env.STALLED_MS) } : {}),
  },
);
await worker.waitUntilReady();
process.stdout.write(`worker ready pid=${process.pid}\n`);
process.on('SIGTERM', () => {
  void worker.close({ deadlineMs: 1000 }).then(() => process.exit(0));
});
