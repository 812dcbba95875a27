import { waitFor } from '@bullpen/test-utils';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createProducer, createWorker, defineJob, defineRegistry, PermanentJobError } from '../src/index.ts';
import { useJobsTest } from './helpers.ts';

const tally = defineJob({ name: 'tally.add', queue: 'tally', payload: z.object({ fail: z.boolean() }) });
const registry = defineRegistry([tally]);

describe('BullMQ queue metrics', () => {
  const t = useJobsTest();

  async function run(queueMetrics?: { maxDataPoints: number }) {
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    let finished = 0;
    const worker = createWorker(
      registry,
      {
        'tally.add': (p) => {
          if (p.fail) throw new PermanentJobError('TALLY_BAD', 'bad');
        },
      },
      { connection: t.connect('worker'), prefix: t.prefix, ...(queueMetrics ? { queueMetrics } : {}) },
    );
    for (const w of worker.workers) {
      w.on('completed', () => finished++);
      w.on('failed', () => finished++);
    }
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    t.defer(() => producer.close());
    await producer.enqueueBulk([
      { name: 'tally.add', payload: { fail: false } },
      { name: 'tally.add', payload: { fail: false } },
      { name: 'tally.add', payload: { fail: true } },
    ]);
    await waitFor(() => finished === 3, 20_000, 'three jobs to finish');
    const q = producer.queue('tally');
    return { completed: await q.getMetrics('completed'), failed: await q.getMetrics('failed') };
  }

  it('collects completed and failed counts per minute for Bull Board’s charts when asked', async () => {
    const { completed, failed } = await run({ maxDataPoints: 60 });
    expect(completed.meta.count).toBe(2);
    expect(failed.meta.count).toBe(1);
  });

  it('collects nothing by default', async () => {
    const { completed, failed } = await run();
    expect(completed.meta.count).toBe(0);
    expect(failed.meta.count).toBe(0);
  });
});
