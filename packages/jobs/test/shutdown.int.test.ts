import { waitFor } from '@bullpen/test-utils';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createProducer, createWorker, defineJob, defineRegistry } from '../src/index.ts';
import { useJobsTest } from './helpers.ts';

const hang = defineJob({
  name: 'hang.forever',
  queue: 'slow',
  payload: z.object({ id: z.string() }),
  attempts: 2,
  timeoutMs: 60_000,
});
const registry = defineRegistry([hang]);

describe('worker.close with a deadline', () => {
  const t = useJobsTest();

  it('hands back a job whose handler hangs past the deadline, without spending an attempt', async () => {
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    let started = 0;
    let sawAbort = false;
    const first = createWorker(
      registry,
      {
        'hang.forever': (_p, ctx) => {
          started++;
          ctx.signal.addEventListener('abort', () => {
            sawAbort = true;
          });
          // Ignores its signal: only the deadline can end this.
          return new Promise(() => {});
        },
      },
      { connection: t.connect('worker'), prefix: t.prefix, concurrency: 2 },
    );
    const { jobId } = await producer.enqueue('hang.forever', { id: 'a' });
    await waitFor(() => started === 1);
    const closing = first.close({ deadlineMs: 300 });
    await expect(closing).resolves.toEqual({ handedBack: 1 });
    expect(sawAbort).toBe(true);
    const job = await producer.queue('slow').getJob(jobId);
    expect(await job!.getState()).toBe('waiting');
    expect(job!.attemptsMade).toBe(0);

    const second = createWorker(
      registry,
      { 'hang.forever': async (_p, ctx) => `done on attempt ${ctx.attempt}` },
      {
        connection: t.connect('worker'),
        prefix: t.prefix,
      },
    );
    t.defer(() => second.close({ deadlineMs: 1000 }));
    const finished = await waitFor(async () => {
      const j = await producer.queue('slow').getJob(jobId);
      return j?.finishedOn ? j : undefined;
    });
    expect(finished.returnvalue).toBe('done on attempt 1');
    expect(started).toBe(1);
  });

  it('lets an active job finish within the deadline', async () => {
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started = false;
    const worker = createWorker(
      registry,
      {
        'hang.forever': async () => {
          started = true;
          await gate;
          return 'finished';
        },
      },
      { connection: t.connect('worker'), prefix: t.prefix },
    );
    const { jobId } = await producer.enqueue('hang.forever', { id: 'b' });
    await waitFor(() => started);
    const closing = worker.close({ deadlineMs: 10_000 });
    setTimeout(release, 100);
    await expect(closing).resolves.toEqual({ handedBack: 0 });
    const job = await producer.queue('slow').getJob(jobId);
    expect(job!.returnvalue).toBe('finished');
  });
});
