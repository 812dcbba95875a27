import { waitFor } from '@bullpen/test-utils';
import { describe, expect, it } from 'vitest';
import { createProducer } from '../src/index.ts';
import { useWorkerProcesses } from './fixtures/spawn.ts';
import { testRegistry } from './fixtures/test-registry.ts';
import { useJobsTest } from './helpers.ts';

describe('a worker process that dies', () => {
  const t = useJobsTest();
  const startWorker = useWorkerProcesses();

  it('SIGKILLed between two steps: the first side effect happened once and another worker completes the job', async () => {
    const env = { REDIS_URL: t.url, BULLPEN_PREFIX: t.prefix, LOCK_MS: '1500', STALLED_MS: '500' };
    const first = startWorker({ ...env, STEP_DELAY_MS: '60000' });
    await first.waitForOutput(/^ready$/);
    const producer = createProducer(testRegistry, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    const { jobId } = await producer.enqueue('side.effect', { id: 'job-a' });
    await first.waitForOutput(/^step1 job-a$/);
    await first.kill();

    const second = startWorker(env);
    await second.waitForOutput(/^ready$/);
    const redis = t.connect('admin');
    const done = await waitFor(
      () => redis.lrange(`${t.prefix}:done`, 0, -1).then((l) => (l.length ? l : undefined)),
      30_000,
    );
    // The redelivered job skipped the finished first step, slept again, and finished on the second worker.
    expect(done).toEqual([`job-a ${second.pid}`]);
    expect(await redis.get(`${t.prefix}:effect:job-a:first`)).toBe('1');
    expect(await redis.get(`${t.prefix}:effect:job-a:second`)).toBe('1');
    const job = await producer.queue('effects').getJob(jobId);
    expect(await job!.getState()).toBe('completed');
  }, 60_000);
});
