// A Bullpen no-op worker as its own process, for RSS over many jobs (bench 7).
import { createMetrics, createRedisConnection, createWorker } from '@bullpen/jobs';
import { Worker } from 'bullmq';
import { benchRegistry } from '../lib/jobs.ts';

const conn = createRedisConnection(process.env.REDIS_URL!, 'worker');
// RAW=1: a plain BullMQ Worker on the same jobs, the baseline for RSS.
if (process.env.RAW === '1') {
  const w = new Worker('bench', async () => undefined, {
    connection: conn,
    prefix: process.env.BENCH_PREFIX!,
    concurrency: Number(process.env.CONCURRENCY ?? 50),
  });
  w.on('error', () => {});
  await w.waitUntilReady();
  process.stdout.write(`worker ready pid=${process.pid}\n`);
} else {
  const worker = createWorker(
    benchRegistry,
    { 'bench.noop': () => undefined },
    {
      connection: conn,
      prefix: process.env.BENCH_PREFIX!,
      queues: ['bench'],
      concurrency: Number(process.env.CONCURRENCY ?? 50),
      metrics: createMetrics(),
    },
  );
  await worker.waitUntilReady();
  process.stdout.write(`worker ready pid=${process.pid}\n`);
}
