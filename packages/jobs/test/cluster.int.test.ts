import { waitFor } from '@bullpen/test-utils';
import { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  checkRedis,
  createJobAdmin,
  createProducer,
  createWorker,
  defineEvent,
  defineJob,
  defineRegistry,
} from '../src/index.ts';
import { useRedisCluster } from './helpers.ts';

// Two queues, so that the test also shows every queue of a deployment living in the one slot of its hash tag.
const echo = defineJob({
  name: 'echo.say',
  queue: 'echoes',
  payload: z.object({ text: z.string().min(1) }),
  attempts: 2,
  backoff: { type: 'fixed', delay: 50 },
  idempotencyKey: (p) => p.text,
});
const fragile = defineJob({
  name: 'fragile.run',
  queue: 'fragile',
  payload: z.object({ id: z.string() }),
  attempts: 2,
  backoff: { type: 'fixed', delay: 50 },
  idempotencyKey: (p) => p.id,
});
const announced = defineEvent({
  name: 'thing.announced',
  payload: z.object({ id: z.string() }),
  subscribers: [
    { job: echo, map: (p: { id: string }) => ({ text: `announce-${p.id}` }) },
    { job: fragile, map: (p: { id: string }) => ({ id: `announce-${p.id}` }) },
  ],
  idempotencyKey: (p) => p.id,
});
const registry = defineRegistry([echo, fragile], [announced]);

describe('on a real Redis Cluster (3 masters)', () => {
  const { prefix, connect } = useRedisCluster();

  it('passes the start-up check on every master', async () => {
    const admin = connect('admin');
    expect(admin).toBeInstanceOf(Cluster);
    // Before its first command a Cluster client knows no master: the check must wait for them.
    const r = await checkRedis(admin);
    expect(r.policy).toBe('noeviction');
  });

  it('enqueues, processes, dead-letters, replays, deduplicates and counts, through the cluster', async () => {
    const started = Date.now();
    let failFragile = true;
    const processed: string[] = [];
    const producer = createProducer(registry, { connection: connect('producer'), prefix });
    const adminConn = connect('admin');
    const admin = createJobAdmin(registry, { connection: adminConn, prefix });
    const worker = createWorker(
      registry,
      {
        'echo.say': async (p, ctx) => {
          const upper = await ctx.step('upper', () => p.text.toUpperCase());
          processed.push(ctx.job.id);
          return { upper };
        },
        'fragile.run': async (p, ctx) => {
          await ctx.step('before', () => 'ok');
          if (failFragile) throw new Error(`fragile ${p.id} failed on attempt ${ctx.attempt}`);
          processed.push(ctx.job.id);
          return 'fixed';
        },
      },
      { connection: connect('worker'), prefix, concurrency: 4 },
    );
    try {
      await worker.waitUntilReady();

      // Enqueue and process.
      const a = await producer.enqueue('echo.say', { text: 'hello' });
      expect(a).toMatchObject({ queue: 'echoes', deduplicated: false });
      const done = await waitFor(async () => {
        const j = await producer.queue('echoes').getJob(a.jobId);
        return j?.finishedOn ? j : undefined;
      }, 15_000);
      expect(done.returnvalue).toEqual({ upper: 'HELLO' });

      // Idempotent enqueue: the same key gives the same job, nothing new.
      const again = await producer.enqueue('echo.say', { text: 'hello' });
      expect(again).toEqual({ ...a, deduplicated: true });
      const bulk = await producer.enqueueBulk([
        { name: 'echo.say', payload: { text: 'bulk-1' } },
        { name: 'echo.say', payload: { text: 'bulk-2' } },
        { name: 'echo.say', payload: { text: 'hello' } },
      ]);
      expect(bulk.map((r) => r.deduplicated)).toEqual([false, false, true]);

      // Fan-out across two queues (not one transaction: recorded once, each job id derived from the event).
      const ev = await producer.publish('thing.announced', { id: 'e1' });
      expect(ev.jobs.map((j) => j.queue).sort()).toEqual(['echoes', 'fragile']);
      expect((await producer.publish('thing.announced', { id: 'e1' })).deduplicated).toBe(true);

      // Dead letter: every attempt fails.
      const f = await producer.enqueue('fragile.run', { id: 'f1' });
      const letter = await waitFor(() => admin.getDeadLetter(f.jobId).catch(() => undefined), 15_000, 'dead letter');
      expect(letter.letter.sourceQueue).toBe('fragile');
      expect(letter.letter.attempts).toHaveLength(2);
      const evFragile = ev.jobs.find((j) => j.queue === 'fragile')!.jobId;
      await waitFor(() => admin.getDeadLetter(evFragile).catch(() => undefined), 15_000, 'event job dead letter');

      await waitFor(async () => processed.length >= 4, 15_000, 'echo jobs done').catch(async (err) => {
        console.error(processed, await producer.queue('echoes').getJobCounts());
        throw err;
      });
      await waitFor(async () => (await producer.queue('fragile').getJobCounts('failed')).failed === 2, 15_000);

      // What the dashboard shows: counts of every queue and dead-letter queue through the cluster connection.
      const counts = async () =>
        Object.fromEntries(
          await Promise.all(
            registry.queues.flatMap((q) => [
              admin.queues
                .get(q)
                .getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed')
                .then((c) => [q, c] as const),
              admin.queues
                .dead(q)
                .getJobCounts('waiting', 'completed', 'failed')
                .then((c) => [`${q}.dead`, c] as const),
            ]),
          ),
        );
      expect(await counts()).toEqual({
        echoes: { waiting: 0, active: 0, completed: 4, failed: 0, delayed: 0 },
        'echoes.dead': { waiting: 0, completed: 0, failed: 0 },
        fragile: { waiting: 0, active: 0, completed: 0, failed: 2, delayed: 0 },
        'fragile.dead': { waiting: 2, completed: 0, failed: 0 },
      });
      const groups = await admin.groupDeadLetters({ queue: 'fragile' });
      expect(groups.reduce((n, g) => n + g.count, 0)).toBe(2);
      const prom = await admin.queues.dead('fragile').exportPrometheusMetrics();
      expect(prom).toMatch(/bullmq_job_count\{queue="fragile\.dead", ?state="waiting"\} 2/);

      // Replay once the cause is fixed: new jobs, letters gone, audit written.
      failFragile = false;
      const dry = await admin.replay({ queue: 'fragile', name: 'fragile.run' }, { actor: 'test', dryRun: true });
      expect(dry.outcomes.map((o) => o.status)).toEqual(['would-replay', 'would-replay']);
      const report = await admin.replay({ ids: [f.jobId], queue: 'fragile' }, { actor: 'test' });
      expect(report).toMatchObject({ replayed: 1, refused: 0 });
      const newId = report.outcomes[0]!.newJobId!;
      expect(newId).toBe(`${f.jobId}-r1`);
      const replayed = await waitFor(async () => {
        const j = await producer.queue('fragile').getJob(newId);
        return j?.finishedOn ? j : undefined;
      }, 15_000);
      expect(replayed.returnvalue).toBe('fixed');
      expect((await admin.audit.list({ limit: 10 })).map((e) => e.action)).toContain('replay');
      expect(await admin.queues.dead('fragile').count()).toBe(1);
      // The replayed source stays failed (until its retention ends), beside the other letter's source.
      expect(await producer.queue('fragile').getJobCounts('completed', 'failed')).toEqual({ completed: 1, failed: 2 });

      // Every Bullpen key of this deployment is on one master: one slot, as the hash tag promises.
      const byNode = await Promise.all(
        (adminConn as Cluster).nodes('master').map(async (n) => (await n.keys(`${prefix}*`)).length),
      );
      expect(byNode.filter((n) => n > 0)).toHaveLength(1);
      console.info(`cluster flow: ${Date.now() - started} ms; keys per master ${JSON.stringify(byNode)}`);
    } finally {
      await worker.close({ deadlineMs: 2000 });
      await producer.close();
      await admin.close();
    }
  });
});
