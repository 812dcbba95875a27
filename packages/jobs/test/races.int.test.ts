import { waitFor } from '@bullpen/test-utils';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createJobAdmin,
  createProducer,
  createWorker,
  defineEvent,
  defineJob,
  defineRegistry,
  letterIdFor,
  PermanentJobError,
  QueueFullError,
} from '../src/index.ts';
import { useJobsTest } from './helpers.ts';

const payload = z.object({ id: z.string() });
const alpha = defineJob({ name: 'alpha.run', queue: 'alpha', payload, attempts: 1 });
const beta = defineJob({ name: 'beta.run', queue: 'beta', payload, attempts: 1 });
const keyed = defineJob({ name: 'keyed.run', queue: 'alpha', payload, attempts: 1, idempotencyKey: (p) => p.id });
const both = defineEvent({ name: 'both.happened', payload, subscribers: [alpha, beta] });
const registry = defineRegistry([alpha, beta, keyed], [both]);
const noop = { 'alpha.run': async () => {}, 'beta.run': async () => {}, 'keyed.run': async () => {} };

// Regressions found by a review of the framework core (each named after what went wrong).
describe('races and edge cases', () => {
  const t = useJobsTest();

  it('never lets concurrent enqueues of one producer pass the backlog cap', async () => {
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix, maxBacklog: 10 });
    t.defer(() => producer.close());
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => producer.enqueue('alpha.run', { id: String(i) })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused).toHaveLength(10);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(QueueFullError);
    expect(await producer.queue('alpha').count()).toBe(10);
  });

  it('says deduplicated for the second of two concurrent enqueues of one key', async () => {
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    const [a, b] = await Promise.all([
      producer.enqueue('keyed.run', { id: 'same' }),
      producer.enqueue('keyed.run', { id: 'same' }),
    ]);
    expect([a.deduplicated, b.deduplicated].sort()).toEqual([false, true]);
    expect(a.jobId).toBe(b.jobId);
    const bulk = await producer.enqueueBulk([
      { name: 'keyed.run', payload: { id: 'twice' } },
      { name: 'keyed.run', payload: { id: 'twice' } },
    ]);
    expect(bulk.map((r) => r.deduplicated)).toEqual([false, true]);
    expect(await producer.queue('alpha').count()).toBe(2);
  });

  it('replays, edits and discards the letters of keyless jobs by their source id', async () => {
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    let fail = true;
    const worker = createWorker(
      registry,
      {
        ...noop,
        'alpha.run': async () => {
          if (fail) throw new PermanentJobError('NOPE', 'nope');
        },
      },
      { connection: t.connect('worker'), prefix: t.prefix },
    );
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    const admin = createJobAdmin(registry, { connection: t.connect('admin'), prefix: t.prefix });
    t.defer(() => admin.close());
    const a = await producer.enqueue('alpha.run', { id: 'a' });
    const b = await producer.enqueue('alpha.run', { id: 'b' });
    expect(a.jobId).toMatch(/^\d+$/);
    const dead = producer.queue('alpha.dead');
    await waitFor(async () => (await dead.count()) === 2);
    const edited = await admin.editDeadLetter(b.jobId, { id: 'b2' }, { actor: 't' });
    expect(edited.letter.payload).toEqual({ id: 'b2' });
    expect((await admin.discardDeadLetters({ ids: [b.jobId] }, { actor: 't' })).discarded).toEqual([
      letterIdFor(b.jobId),
    ]);
    fail = false;
    const report = await admin.replay({ ids: [a.jobId] }, { actor: 't' });
    expect(report.outcomes[0]).toMatchObject({ status: 'replayed', newJobId: `${a.jobId}-r1` });
    expect(await dead.count()).toBe(0);
  });

  it('replays a second letter of the same source under a new id', async () => {
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    const admin = createJobAdmin(registry, { connection: t.connect('admin'), prefix: t.prefix });
    t.defer(() => admin.close());
    const letter = (jobId: string) => ({
      sourceQueue: 'alpha',
      name: 'keyed.run',
      jobId,
      payload: { id: 'k-r5' },
      meta: { key: 'k-r5' },
      code: 'JOB_FAILED',
      error: { name: 'Error', message: 'x' },
      attempts: [],
      fingerprint: 'f',
      fingerprintText: 'Error: x',
      enqueuedAt: new Date().toISOString(),
      failedAt: new Date().toISOString(),
    });
    // A key ending in -r5 is not taken for a replay suffix.
    await producer.queue('alpha.dead').add('keyed.run', letter('keyed.run#k-r5'), { jobId: 'keyed.run#k-r5' });
    const first = await admin.replay({ ids: ['keyed.run#k-r5'] }, { actor: 't' });
    expect(first.outcomes[0]!.newJobId).toBe('keyed.run#k-r5-r1');
    await producer.queue('alpha.dead').add('keyed.run', letter('keyed.run#k-r5'), { jobId: 'keyed.run#k-r5' });
    const second = await admin.replay({ ids: ['keyed.run#k-r5'] }, { actor: 't' });
    expect(second.outcomes[0]!.newJobId).toBe('keyed.run#k-r5-r2');
    expect(await producer.queue('alpha').count()).toBe(2);
  });

  it('keeps an interrupted publish pending while a subscriber queue is full, and finishes it later', async () => {
    const producer = createProducer(registry, {
      connection: t.connect('producer'),
      prefix: t.prefix,
      maxBacklog: { alpha: 100, beta: 1 },
    });
    t.defer(() => producer.close());
    const redis = t.connect('admin');
    await redis.hset(
      `${t.prefix}:event:e1`,
      'record',
      JSON.stringify({ name: 'both.happened', payload: { id: 'e1' } }),
    );
    await redis.zadd(`${t.prefix}:events:pending`, Date.now() - 60_000, 'e1');
    await producer.enqueue('beta.run', { id: 'filler' });
    expect(await producer.resumePendingEvents()).toBe(0);
    expect(await redis.zcard(`${t.prefix}:events:pending`)).toBe(1);
    await producer.queue('beta').drain();
    await new Promise((r) => setTimeout(r, 300)); // past the cached backlog count
    expect(await producer.resumePendingEvents()).toBe(1);
    expect(await producer.queue('alpha').count()).toBe(1);
    expect(await producer.queue('beta').count()).toBe(1);
  });

  it('hands back jobs with the same id on two queues at shutdown', async () => {
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    let started = 0;
    const hang = async () => {
      started++;
      await new Promise(() => {});
    };
    const worker = createWorker(
      registry,
      { ...noop, 'alpha.run': hang, 'beta.run': hang },
      { connection: t.connect('worker'), prefix: t.prefix },
    );
    const a = await producer.enqueue('alpha.run', { id: 'x' });
    const b = await producer.enqueue('beta.run', { id: 'y' });
    expect(a.jobId).toBe(b.jobId);
    await waitFor(() => started === 2);
    expect(worker.activeCount()).toBe(2);
    expect(await worker.close({ deadlineMs: 200 })).toEqual({ handedBack: 2 });
    expect(await producer.queue('alpha').getJobState(a.jobId)).toBe('waiting');
    expect(await producer.queue('beta').getJobState(b.jobId)).toBe('waiting');
  });
});
