import { waitFor } from '@bullpen/test-utils';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createProducer, createWorker, defineJob, defineRegistry } from '../src/index.ts';
import { useJobsTest } from './helpers.ts';

const payload = z.object({ userId: z.string(), n: z.number() });
const throttled = defineJob({
  name: 'profile.reindex',
  queue: 'search',
  payload,
  deduplicate: { key: (p) => p.userId, ttlMs: 60_000 },
});
const debounced = defineJob({
  name: 'profile.notify',
  queue: 'search',
  payload,
  deduplicate: { key: (p) => p.userId, ttlMs: 800, extend: true, replace: true },
});
const registry = defineRegistry([throttled, debounced]);

describe('deduplication windows, defined', () => {
  it('refuses a window on a keyed job, whose id already makes it once', () => {
    expect(() =>
      defineJob({
        name: 'a.b',
        queue: 'q',
        payload,
        idempotencyKey: (p) => p.userId,
        deduplicate: { key: (p) => p.userId, ttlMs: 10 },
      }),
    ).toThrow(/exclude each other/);
    expect(() =>
      defineJob({ name: 'a.b', queue: 'q', payload, deduplicate: { key: (p) => p.userId, ttlMs: 0 } }),
    ).toThrow(/ttlMs/);
  });
});

describe('deduplication windows on a real Redis', () => {
  const t = useJobsTest();

  function producer() {
    const p = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => p.close());
    return p;
  }

  it('throttles: the first enqueue of a window is the job, the rest say deduplicated; other keys are their own', async () => {
    const p = producer();
    const a = await p.enqueue('profile.reindex', { userId: 'u1', n: 1 });
    const b = await p.enqueue('profile.reindex', { userId: 'u1', n: 2 });
    const [c, d] = await p.enqueueBulk([
      { name: 'profile.reindex', payload: { userId: 'u1', n: 3 } },
      { name: 'profile.reindex', payload: { userId: 'u2', n: 1 } },
    ]);
    expect([a.deduplicated, b.deduplicated, c!.deduplicated, d!.deduplicated]).toEqual([false, true, true, false]);
    expect(b.jobId).toBe(a.jobId);
    const q = p.queue('search');
    expect(await q.getJobCounts('waiting')).toEqual({ waiting: 2 });
    expect((await q.getJob(a.jobId))!.data.payload).toEqual({ userId: 'u1', n: 1 });
  });

  it('debounces: a burst runs once, after the window, with the last payload', async () => {
    const runs: unknown[] = [];
    const worker = createWorker(
      registry,
      { 'profile.reindex': () => {}, 'profile.notify': (p) => void runs.push(p) },
      { connection: t.connect('worker'), prefix: t.prefix },
    );
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    const p = producer();
    const first = Date.now();
    const results = [];
    for (const n of [1, 2, 3]) results.push(await p.enqueue('profile.notify', { userId: 'u1', n }));
    expect(results.map((r) => r.deduplicated)).toEqual([false, true, true]);
    await waitFor(() => runs.length > 0, 30_000, 'the debounced run');
    const ranAt = Date.now();
    // Give a second run (which must not come) a moment to show up.
    await new Promise((r) => setTimeout(r, 1000));
    expect(runs).toEqual([{ userId: 'u1', n: 3 }]);
    expect(ranAt - first).toBeGreaterThanOrEqual(800);
  });
});
