import { waitFor } from '@bullpen/test-utils';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createJobAdmin,
  createProducer,
  createWorker,
  defineJob,
  defineRegistry,
  defineSchedule,
} from '../src/index.ts';
import { useRedisCluster } from './helpers.ts';

const call = defineJob({
  name: 'host.call',
  queue: 'calls',
  payload: z.object({ host: z.string(), id: z.string(), ms: z.number() }),
  attempts: 1,
  idempotencyKey: (p) => p.id,
  concurrencyKey: (p) => p.host,
});
const tick = defineSchedule({
  name: 'host.tick',
  job: call,
  payload: { host: 'ticks', id: 'tick', ms: 0 },
  everyMs: 300,
});
const registry = defineRegistry([call], { schedules: [tick] });

describe('schedules, per-key concurrency and cancellation on a real Redis Cluster', () => {
  const { prefix, connect } = useRedisCluster();

  it('keeps one scheduler, caps a key across two workers, and cancels a running job through pub/sub', async () => {
    const running = new Map<string, number>();
    let maxBusy = 0;
    const ticks: string[] = [];
    const handler = async (
      p: { host: string; id: string; ms: number },
      ctx: { signal: AbortSignal; job: { id: string } },
    ) => {
      if (p.host === 'ticks') {
        ticks.push(ctx.job.id);
        return;
      }
      running.set(p.host, (running.get(p.host) ?? 0) + 1);
      if (p.host === 'busy.example') maxBusy = Math.max(maxBusy, running.get(p.host)!);
      try {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, p.ms);
          ctx.signal.addEventListener('abort', () => {
            clearTimeout(t);
            reject(ctx.signal.reason);
          });
        });
      } finally {
        running.set(p.host, running.get(p.host)! - 1);
      }
    };
    const workers = [0, 1].map(() =>
      createWorker(registry, { 'host.call': handler }, { connection: connect('worker'), prefix, concurrency: 3 }),
    );
    await Promise.all(workers.map((w) => w.waitUntilReady()));
    const producer = createProducer(registry, { connection: connect('producer'), prefix });
    const admin = createJobAdmin(registry, { connection: connect('admin'), prefix });
    try {
      expect((await producer.queue('calls').getJobSchedulers(0, -1)).map((s) => s.key)).toEqual([
        'bullpen.schedule.host.tick',
      ]);
      await waitFor(() => ticks.length >= 2, 30_000, 'two scheduled runs');

      for (let i = 0; i < 4; i++) await producer.enqueue('host.call', { host: 'busy.example', id: `b${i}`, ms: 150 });
      const { jobId } = await producer.enqueue('host.call', { host: 'slow.example', id: 'long', ms: 120_000 });
      await waitFor(() => (running.get('slow.example') ?? 0) === 1, 30_000, 'the long call to run');
      const report = await admin.cancel([jobId], { actor: 'ada', waitMs: 20_000 });
      expect(report.outcomes[0]).toMatchObject({ status: 'signalled', state: 'cancelled' });

      const q = producer.queue('calls');
      await waitFor(
        async () =>
          (await Promise.all([0, 1, 2, 3].map((i) => q.getJobState(`host.call#b${i}`)))).every(
            (s) => s === 'completed',
          ),
        30_000,
        'the busy host calls',
      );
      expect(maxBusy).toBe(1);
    } finally {
      await Promise.all(workers.map((w) => w.close({ deadlineMs: 2000 })));
      await producer.close();
      await admin.close();
    }
  }, 120_000);
});
