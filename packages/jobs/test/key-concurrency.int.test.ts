import { waitFor } from '@bullpen/test-utils';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createProducer, defineJob } from '../src/index.ts';
import { postponeDelayMs } from '../src/key-concurrency.ts';
import { processRegistry } from './fixtures/registry-jobs.ts';
import { useWorkerProcesses } from './fixtures/spawn.ts';
import { useJobsTest } from './helpers.ts';

/** The most jobs of `key` running at once, from the start/end events in the order Redis saw them. */
function maxConcurrent(events: string[], key: string): number {
  let running = 0;
  let max = 0;
  for (const e of events) {
    const [kind, k] = e.split(' ');
    if (k !== key) continue;
    running += kind === 'start' ? 1 : -1;
    max = Math.max(max, running);
  }
  return max;
}

describe('per-key concurrency, defined', () => {
  it('refuses maxPerKey without a key, and a cap below 1', () => {
    const base = { name: 'a.b', queue: 'q', payload: z.object({ h: z.string() }) };
    expect(() => defineJob({ ...base, maxPerKey: 2 })).toThrow(/maxPerKey needs a concurrencyKey/);
    expect(() => defineJob({ ...base, concurrencyKey: (p) => p.h, maxPerKey: 0 })).toThrow(/maxPerKey/);
    expect(defineJob({ ...base, concurrencyKey: (p) => p.h }).maxPerKey).toBeUndefined();
  });

  it('re-delays a job at its cap by a jittered delay that grows with each postponement, capped', () => {
    const job = (started: number, made = 0) => ({ attemptsStarted: started, attemptsMade: made }) as never;
    const mid = () => 0.5;
    expect(postponeDelayMs(job(1), mid)).toBe(100);
    expect(postponeDelayMs(job(2), mid)).toBe(200);
    expect(postponeDelayMs(job(4), mid)).toBe(800);
    expect(postponeDelayMs(job(30), mid)).toBe(2000);
    // A retry (an attempt made) does not count as a postponement.
    expect(postponeDelayMs(job(2, 1), mid)).toBe(100);
    expect(postponeDelayMs(job(1), () => 0)).toBe(50);
    expect(postponeDelayMs(job(1), () => 0.999)).toBe(150);
  });
});

describe('per-key concurrency across worker processes', () => {
  const t = useJobsTest();
  const startWorker = useWorkerProcesses('registry-worker.ts');

  it('3 processes: 20 jobs of one key with maxPerKey 2 never run more than 2 at once, while other keys flow', async () => {
    const env = { REDIS_URL: t.url, BULLPEN_PREFIX: t.prefix, QUEUES: 'calls', CONCURRENCY: '4' };
    const workers = [startWorker(env), startWorker(env), startWorker(env)];
    await Promise.all(workers.map((w) => w.waitForOutput(/^ready$/, 60_000)));
    const producer = createProducer(processRegistry, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    const hot = Array.from({ length: 20 }, (_, i) => ({ host: 'hot.example', id: `hot-${i}`, ms: 250 }));
    const cool = Array.from({ length: 10 }, (_, i) => ({ host: `cool-${i}.example`, id: `cool-${i}`, ms: 250 }));
    const started = Date.now();
    for (const p of [...hot, ...cool]) await producer.enqueue('host.call', p);

    const redis = t.connect('admin');
    const events = await waitFor(
      async () => {
        const list = await redis.lrange(`${t.prefix}:events`, 0, -1);
        return list.filter((e) => e.startsWith('end')).length === 30 ? list : undefined;
      },
      120_000,
      'all 30 jobs to finish',
    );
    const elapsed = Date.now() - started;
    const maxHot = maxConcurrent(events, 'hot.example');
    expect(maxHot).toBeLessThanOrEqual(2);
    // The cap was reached (the test would prove nothing if the hot jobs had trickled in one by one).
    expect(maxHot).toBe(2);
    // The other keys did not wait behind the hot one: they were all done before the hot key's last job.
    const lastHotEnd = events.findLastIndex((e) => e.startsWith('end hot.example'));
    const lastCoolEnd = events.findLastIndex((e) => /^end cool-/.test(e));
    expect(lastCoolEnd).toBeLessThan(lastHotEnd);
    // Every job completed on its one and only attempt: the postponements spent none.
    const q = producer.queue('calls');
    await waitFor(async () => (await q.getJobCounts('completed')).completed === 30, 30_000, 'all completed');
    const jobs = await Promise.all([...hot, ...cool].map((p) => q.getJob(`host.call#${p.id}`)));
    const states = await Promise.all(jobs.map((j) => j!.getState()));
    expect(new Set(states)).toEqual(new Set(['completed']));
    expect(new Set(jobs.map((j) => j!.attemptsMade))).toEqual(new Set([1]));
    const postponed = jobs.reduce((n, j) => n + (j!.attemptsStarted - j!.attemptsMade), 0);
    const pids = new Set(events.filter((e) => e.startsWith('start hot')).map((e) => e.split(' ')[3]));
    console.info(
      `per-key concurrency: max ${maxHot} of hot.example at once, ${postponed} postponements, ` +
        `hot jobs ran in ${pids.size} processes, 30 jobs in ${elapsed} ms`,
    );
    // Nothing left of the slots once the work is done.
    expect(await redis.keys(`${t.prefix}:slots:*`)).toEqual([]);
  }, 180_000);

  it("a crashed holder's slot is freed by its lock expiry", async () => {
    const env = { REDIS_URL: t.url, BULLPEN_PREFIX: t.prefix, QUEUES: 'holds', LOCK_MS: '1500', STALLED_MS: '500' };
    const first = startWorker(env);
    await first.waitForOutput(/^ready$/, 60_000);
    const producer = createProducer(processRegistry, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    await producer.enqueue('key.hold', { key: 'k', id: 'holder', ms: 600_000 });
    await first.waitForOutput(/^started holder$/, 30_000);
    // The second process finishes whatever it runs quickly, the redelivered holder included.
    const second = startWorker({ ...env, SLEEP_CAP_MS: '200' });
    await second.waitForOutput(/^ready$/, 60_000);
    const { jobId } = await producer.enqueue('key.hold', { key: 'k', id: 'waiter', ms: 100 });
    const q = producer.queue('holds');
    // The waiter is turned away while the live holder keeps its slot (renewed past its 1.5 s lease).
    await waitFor(async () => ((await q.getJob(jobId))?.attemptsStarted ?? 0) >= 3, 30_000, 'the waiter postponed');
    const redis = t.connect('admin');
    expect(await redis.lrange(`${t.prefix}:events`, 0, -1)).toEqual([`start k holder ${first.pid}`]);

    await first.kill();
    await redis.rpush(`${t.prefix}:events`, 'killed');
    await waitFor(async () => (await q.getJob(jobId))?.finishedOn, 60_000, 'the waiter to run');
    const events = await redis.lrange(`${t.prefix}:events`, 0, -1);
    const killedAt = events.indexOf('killed');
    expect(events.indexOf(`start k waiter ${second.pid}`)).toBeGreaterThan(killedAt);
    const waiter = await q.getJob(jobId);
    expect(await waiter!.getState()).toBe('completed');
    expect(waiter!.attemptsMade).toBe(1);
  }, 120_000);
});
