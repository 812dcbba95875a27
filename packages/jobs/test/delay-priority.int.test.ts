import { waitFor } from '@bullpen/test-utils';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createProducer, createWorker, defineJob, defineRegistry } from '../src/index.ts';
import { useJobsTest } from './helpers.ts';

const task = defineJob({
  name: 'task.run',
  queue: 'tasks',
  payload: z.object({ label: z.string() }),
  backoff: { type: 'fixed', delay: 50 },
});
const registry = defineRegistry([task]);

describe('delay and priority through the typed producer', () => {
  const t = useJobsTest();

  function setup(onRun: (label: string) => void) {
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    const worker = createWorker(
      registry,
      { 'task.run': (p) => onRun(p.label) },
      { connection: t.connect('worker'), prefix: t.prefix, concurrency: 1 },
    );
    t.defer(() => producer.close());
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    return { producer, worker };
  }

  it('runs a delayed job no earlier than its delay', async () => {
    const started = new Map<string, number>();
    const { producer, worker } = setup((label) => void started.set(label, Date.now()));
    await worker.waitUntilReady();
    const enqueuedAt = Date.now();
    const delayed = await producer.enqueue('task.run', { label: 'later' }, { delay: 1500 });
    await producer.enqueue('task.run', { label: 'now' });
    const job = await producer.queue('tasks').getJob(delayed.jobId);
    expect(await job!.getState()).toBe('delayed');
    await waitFor(() => started.has('later'), 30_000, 'the delayed job');
    // A lower bound only: a loaded machine may start it later, never earlier.
    expect(started.get('later')! - enqueuedAt).toBeGreaterThanOrEqual(1500);
    expect(started.get('now')!).toBeLessThan(started.get('later')!);
  });

  it('runs higher-priority jobs first (one worker, concurrency 1, jobs enqueued while the queue is paused)', async () => {
    const order: string[] = [];
    const { producer, worker } = setup((label) => void order.push(label));
    await worker.waitUntilReady();
    const queue = producer.queue('tasks');
    await queue.pause();
    await producer.enqueue('task.run', { label: 'p5' }, { priority: 5 });
    await producer.enqueue('task.run', { label: 'p1' }, { priority: 1 });
    await producer.enqueue('task.run', { label: 'p3-a' }, { priority: 3 });
    await producer.enqueue('task.run', { label: 'p3-b' }, { priority: 3 });
    await producer.enqueue('task.run', { label: 'unprioritized' });
    await queue.resume();
    await waitFor(() => order.length === 5, 30_000, 'every job');
    // A job without a priority is taken before every prioritized one; among equals, FIFO.
    expect(order).toEqual(['unprioritized', 'p1', 'p3-a', 'p3-b', 'p5']);
  });

  it('refuses a delay or priority out of range before anything touches Redis', async () => {
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    await expect(producer.enqueue('task.run', { label: 'x' }, { delay: -1 })).rejects.toThrow(RangeError);
    await expect(producer.enqueue('task.run', { label: 'x' }, { priority: 0 })).rejects.toThrow(/priority/);
    await expect(producer.enqueue('task.run', { label: 'x' }, { priority: 2 ** 21 })).rejects.toThrow(/priority/);
    await expect(producer.enqueue('task.run', { label: 'x' }, { priority: 1.5 })).rejects.toThrow(/priority/);
    expect(await t.connect('admin').keys(`${t.prefix}*`)).toEqual([]);
  });
});
