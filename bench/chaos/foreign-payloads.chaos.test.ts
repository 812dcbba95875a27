import { closeRedis, createProducer, createRedisConnection, createWorker, type DeadLetter } from '@bullpen/jobs';
import { type RedisServerHandle, startRedisServer } from '@bullpen/test-utils';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchRegistry } from '../lib/jobs.ts';
import { sleep } from '../lib/proc.ts';
import { adminClient } from '../lib/redis.ts';
import { recordFigures } from './report.ts';

const prefix = 'chaos-foreign';

/** What a producer that bypasses Bullpen might put in a job's data. */
function malformed(): unknown[] {
  let deep: unknown = { n: 1 };
  for (let i = 0; i < 500; i++) deep = { payload: deep };
  return [
    null,
    'a string',
    42,
    true,
    [1, 2, 3],
    {},
    { n: 1 },
    { payload: {} },
    { payload: null },
    { payload: 'x' },
    { payload: [] },
    { payload: { n: 'one' } },
    { payload: { n: 1.5 } },
    { payload: { n: 2 ** 60 } },
    { payload: { n: -1e308 * 10 } },
    { payload: { n: true } },
    { payload: { n: '1' } },
    { payload: { n: 1, t: 'later' } },
    { payload: { m: 1 } },
    { payload: { n: 1 }, meta: 'not an object' },
    { payload: { n: 1 }, meta: { key: 5 } },
    { payload: { n: 1 }, meta: { requestId: ['x'] } },
    { payload: { n: 1 }, meta: { ledger: { nested: true } } },
    { meta: {} },
    { payload: { n: null } },
    { payload: { n: 'x'.repeat(200_000) } },
    deep,
    { payload: { __proto__: { n: 1 } } },
    { payload: { constructor: { prototype: { n: 1 } } } },
    { payload: { n: Number.NaN } },
  ];
}

describe('a foreign producer writes malformed payloads straight into a queue', () => {
  let redis: RedisServerHandle;
  let admin: Redis;
  beforeAll(async () => {
    redis = await startRedisServer();
    admin = adminClient(redis.url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await redis?.stop();
  });

  it('dead-letters each with JOB_PAYLOAD_INVALID, retries none, and keeps serving', async () => {
    const workerConn = createRedisConnection(redis.url, 'worker');
    const producerConn = createRedisConnection(redis.url, 'producer');
    let handled = 0;
    const errors: Error[] = [];
    const worker = createWorker(
      benchRegistry,
      {
        'bench.noop': () => {
          handled++;
        },
      },
      { connection: workerConn, prefix, queues: ['bench'], concurrency: 5 },
    );
    for (const w of worker.workers) w.on('error', (err) => errors.push(err));
    const producer = createProducer(benchRegistry, { connection: producerConn, prefix });
    const foreign = new Queue('bench', { connection: admin, prefix });
    const dead = new Queue('bench.dead', { connection: admin, prefix });
    try {
      await worker.waitUntilReady();
      const bad = malformed();
      const ids: string[] = [];
      for (const [i, data] of bad.entries()) {
        // A foreign producer asks for retries: a payload that cannot validate must not get them.
        const job = await foreign.add('bench.noop', data, {
          jobId: `foreign-${i}`,
          attempts: 5,
          backoff: { type: 'fixed', delay: 50 },
        });
        ids.push(job.id!);
      }
      const unknown = await foreign.add('bench.nope', { payload: { n: 1 } }, { jobId: 'foreign-unknown', attempts: 5 });

      const until = Date.now() + 30_000;
      let letters: (DeadLetter | undefined)[] = [];
      while (Date.now() < until) {
        letters = await Promise.all(ids.map(async (id) => (await dead.getJob(id))?.data as DeadLetter | undefined));
        if (letters.every(Boolean) && (await dead.getJob(unknown.id!))) break;
        await sleep(100);
      }
      const sources = await Promise.all(ids.map((id) => foreign.getJob(id)));
      const states = await Promise.all(ids.map((id) => foreign.getJobState(id)));
      const unknownLetter = (await dead.getJob(unknown.id!))?.data as DeadLetter | undefined;

      // The worker is unharmed: good work still runs.
      const good = await producer.enqueue('bench.noop', { n: 1 });
      const goodDone = await (async () => {
        const t = Date.now() + 10_000;
        while (Date.now() < t) {
          if ((await foreign.getJobState(good.jobId)) === 'completed') return true;
          await sleep(50);
        }
        return false;
      })();

      const codes: Record<string, number> = {};
      for (const l of letters) codes[l?.code ?? 'missing'] = (codes[l?.code ?? 'missing'] ?? 0) + 1;
      const figures = {
        malformedPayloads: bad.length,
        deadLettered: letters.filter(Boolean).length,
        codes,
        failedState: states.filter((s) => s === 'failed').length,
        retried: sources.filter((j) => (j?.attemptsMade ?? 0) > 1 || (j?.attemptsStarted ?? 0) > 1).length,
        handlerCalls: handled,
        unknownJobName: unknownLetter?.code ?? 'missing',
        workerErrors: errors.length,
        validJobAfterwards: goodDone ? 'completed' : 'not completed',
      };
      recordFigures('foreign-payloads', figures);
      expect(letters.filter(Boolean)).toHaveLength(bad.length);
      expect(codes).toEqual({ JOB_PAYLOAD_INVALID: bad.length });
      expect(figures.failedState).toBe(bad.length);
      expect(figures.retried).toBe(0);
      expect(unknownLetter?.code).toBe('JOB_UNKNOWN');
      expect(goodDone).toBe(true);
      expect(handled).toBe(1);
      expect(errors).toEqual([]);
    } finally {
      await worker.close({ deadlineMs: 1000 });
      await producer.close();
      await foreign.close();
      await dead.close();
      await closeRedis(workerConn);
      await closeRedis(producerConn);
    }
  });
});
