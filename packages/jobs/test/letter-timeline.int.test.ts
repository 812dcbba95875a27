import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '@bullpen/test-utils';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createJobAdmin, createProducer, createWorker, defineJob, defineRegistry } from '../src/index.ts';
import { useJobsTest } from './helpers.ts';

const order = defineJob({
  name: 'order.ship',
  queue: 'orders',
  payload: z.object({ id: z.string() }),
  attempts: 3,
  backoff: { type: 'fixed', delay: 50 },
  timeoutMs: 400,
  idempotencyKey: (p) => p.id,
});
const registry = defineRegistry([order]);

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('a dead letter’s step timeline', () => {
  const t = useJobsTest();

  function setup(handler: Parameters<typeof createWorker<typeof registry>>[1]['order.ship']) {
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    const worker = createWorker(
      registry,
      { 'order.ship': handler },
      { connection: t.connect('worker'), prefix: t.prefix },
    );
    const admin = createJobAdmin(registry, { connection: t.connect('admin'), prefix: t.prefix });
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    t.defer(() => producer.close());
    t.defer(() => admin.close());
    return { producer, admin };
  }

  it('records when each step finished, where each attempt failed, and what a replay skips and redoes', async () => {
    const { producer, admin } = setup(async (p, ctx) => {
      await ctx.step('fetch', () => ({ id: p.id, lines: ['a', 'b', 'c'] }));
      if (ctx.attempt === 1) await ctx.step('render', () => Promise.reject(new Error('renderer down')));
      await ctx.step('render', () => 'x'.repeat(100));
      if (ctx.attempt === 2) throw new Error('between steps');
      // The third attempt runs past its deadline inside a step.
      await ctx.step('send', () => sleep(5000, undefined, { signal: ctx.signal }));
    });
    const { jobId } = await producer.enqueue('order.ship', { id: 'o-1' });
    await waitFor(() => producer.queue('orders.dead').getJob(jobId), 20_000, 'the letter');

    const tl = await admin.letterTimeline(jobId);
    expect(tl).toMatchObject({ id: jobId, queue: 'orders', ledgerId: 'k:order.ship:o-1' });
    expect(tl.steps.map((s) => s.name)).toEqual(['fetch', 'render']);
    expect(tl.steps[0]!.bytes).toBe(JSON.stringify({ id: 'o-1', lines: ['a', 'b', 'c'] }).length);
    expect(tl.steps[1]!.bytes).toBe(102);
    for (const s of tl.steps) expect(s.at).toMatch(ISO);

    expect(tl.attempts.map((a) => [a.jobId, a.attempt, a.step, a.message])).toEqual([
      [jobId, 1, 'render', 'renderer down'],
      [jobId, 2, undefined, 'between steps'],
      [jobId, 3, 'send', expect.stringContaining('400 ms')],
    ]);
    expect(tl.attempts[2]!.code).toBe('JOB_TIMEOUT');
    const times = tl.attempts.map((a) => a.at!);
    for (const at of times) expect(at).toMatch(ISO);
    expect([...times].sort()).toEqual(times);
    expect(tl.attempts.every((a) => a.stack && a.startedAt! <= a.at!)).toBe(true);
    // The render step finished during the second attempt, after the first had failed.
    expect(tl.steps[1]!.at! > times[0]!).toBe(true);

    expect(tl.replay).toEqual({
      ledgerId: 'k:order.ship:o-1',
      freshLedger: false,
      skips: ['fetch', 'render'],
      resumesAt: 'send',
      completesAtOnce: false,
    });
  });

  it('shows a replay’s own attempts after its source job’s, and a fresh ledger once the payload is edited', async () => {
    let failing = true;
    const { producer, admin } = setup(async (_p, ctx) => {
      await ctx.step('fetch', () => 1);
      if (failing) throw new Error(`still failing (attempt ${ctx.attempt})`);
    });
    const { jobId } = await producer.enqueue('order.ship', { id: 'o-2' });
    await waitFor(() => producer.queue('orders.dead').getJob(jobId), 20_000, 'the letter');
    const report = await admin.replay({ ids: [jobId] }, { actor: 'tester' });
    const replayId = report.outcomes[0]!.newJobId!;
    await waitFor(() => producer.queue('orders.dead').getJob(replayId), 20_000, 'the replay’s letter');

    const tl = await admin.letterTimeline(replayId, 'orders');
    expect(tl.attempts.map((a) => `${a.jobId}/${a.attempt}`)).toEqual([
      `${jobId}/1`,
      `${jobId}/2`,
      `${jobId}/3`,
      `${replayId}/1`,
      `${replayId}/2`,
      `${replayId}/3`,
    ]);
    // Only the letter's own attempts carry a stack (the source letter is gone since the replay).
    expect(tl.attempts.filter((a) => a.stack).map((a) => a.jobId)).toEqual([replayId, replayId, replayId]);
    expect(tl.replay).toMatchObject({ skips: ['fetch'], freshLedger: false });
    expect(tl.replay.resumesAt).toBeUndefined();

    failing = false;
    await admin.editDeadLetter(replayId, { id: 'o-2' }, { actor: 'tester' });
    const edited = await admin.letterTimeline(replayId);
    expect(edited.replay).toEqual({
      ledgerId: 'k:order.ship:o-2~e1',
      freshLedger: true,
      skips: [],
      completesAtOnce: false,
    });
    expect(edited.steps.map((s) => s.name)).toEqual(['fetch']);
  });

  it('reads steps stored before the ledger kept times', async () => {
    const { producer, admin } = setup(async (_p, ctx) => {
      await ctx.step('old', () => 'never');
      throw new Error('nope');
    });
    const redis = t.connect('admin');
    // An entry as the previous release wrote it: a result, no time.
    await redis.hset(`${t.prefix}:ledger:k:order.ship:o-3`, 'step:old', JSON.stringify('stored before'));
    const { jobId } = await producer.enqueue('order.ship', { id: 'o-3' });
    await waitFor(() => producer.queue('orders.dead').getJob(jobId), 20_000, 'the letter');
    const tl = await admin.letterTimeline(jobId);
    expect(tl.steps).toEqual([{ name: 'old', bytes: JSON.stringify('stored before').length }]);
    expect(tl.attempts).toHaveLength(3);
    expect(tl.replay.skips).toEqual(['old']);
  });
});
