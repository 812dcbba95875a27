import { waitFor } from '@bullpen/test-utils';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  BullpenError,
  createProducer,
  createWorker,
  defineJob,
  defineRegistry,
  type Handler,
  JobPostponedError,
  letterIdFor,
} from '../src/index.ts';
import { useJobsTest } from './helpers.ts';

const once = defineJob({
  name: 'disk.write',
  queue: 'disks',
  payload: z.object({ id: z.string() }),
  // One attempt only: a postponement that spent it would fail the job.
  attempts: 1,
  backoff: { type: 'fixed', delay: 50 },
});
const twice = defineJob({
  name: 'disk.full',
  queue: 'disks',
  payload: z.object({ id: z.string() }),
  attempts: 2,
  backoff: { type: 'fixed', delay: 50 },
});
const registry = defineRegistry([once, twice]);

class DiskFullError extends BullpenError {
  constructor() {
    super('DISK_FULL', 'no space left on device');
  }
}

describe('JobPostponedError: back to delayed without spending an attempt', () => {
  const t = useJobsTest();

  function setup(handlers: { write: Handler<{ id: string }>; full: Handler<{ id: string }> }) {
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    const worker = createWorker(
      registry,
      { 'disk.write': handlers.write, 'disk.full': handlers.full },
      { connection: t.connect('worker'), prefix: t.prefix, concurrency: 2 },
    );
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    t.defer(() => producer.close());
    return producer;
  }

  it('runs a postponed job again after a growing delay, with its attempt unspent, until it succeeds', async () => {
    const runs: { at: number; attempt: number }[] = [];
    const producer = setup({
      write: async (_p, ctx) => {
        runs.push({ at: Date.now(), attempt: ctx.attempt });
        if (runs.length <= 3) {
          throw new JobPostponedError('disk full', { delayMs: 150, maxDelayMs: 400, cause: new DiskFullError() });
        }
        return 'written';
      },
      full: () => undefined,
    });
    const { jobId } = await producer.enqueue('disk.write', { id: 'a' });
    const job = await waitFor(
      async () => {
        const j = await producer.queue('disks').getJob(jobId);
        return j && (await j.isCompleted()) ? j : undefined;
      },
      15_000,
      'the job to complete',
    );
    expect(job.returnvalue).toBe('written');
    expect(runs.map((r) => r.attempt)).toEqual([1, 1, 1, 1]);
    // 150, 300, then capped at 400 ms (the delayed set is checked on its own schedule: lower bounds only).
    const gaps = runs.slice(1).map((r, i) => r.at - runs[i]!.at);
    expect(gaps[0]).toBeGreaterThanOrEqual(140);
    expect(gaps[1]).toBeGreaterThanOrEqual(290);
    expect(gaps[2]).toBeGreaterThanOrEqual(390);
    expect(await producer.queue('disks.dead').getJobCountByTypes('waiting', 'completed')).toBe(0);
  });

  it('stops postponing once its window is spent: the attempts then fail with the cause and it is dead-lettered', async () => {
    const runs: number[] = [];
    const producer = setup({
      write: () => undefined,
      full: async () => {
        runs.push(Date.now());
        throw new JobPostponedError('disk full', { delayMs: 100, windowMs: 600, cause: new DiskFullError() });
      },
    });
    const { jobId } = await producer.enqueue('disk.full', { id: 'b' });
    const letter = await waitFor(() => producer.queue('disks.dead').getJob(letterIdFor(jobId)), 15_000, 'the letter');
    expect(letter.data.code).toBe('DISK_FULL');
    // Postponed within the window, then both attempts spent (once the window was over).
    expect(runs.length).toBeGreaterThanOrEqual(4);
    expect(runs.at(-1)! - runs[0]!).toBeGreaterThanOrEqual(600);
    expect(letter.data.attempts).toHaveLength(2);
  });
});
