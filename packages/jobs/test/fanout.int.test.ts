import { waitFor } from '@bullpen/test-utils';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createMetrics,
  createProducer,
  createWorker,
  defineEvent,
  defineJob,
  defineRegistry,
  JobPayloadInvalidError,
  letterIdFor,
  PermanentJobError,
  QueueFullError,
} from '../src/index.ts';
import { useJobsTest } from './helpers.ts';

const signup = z.object({ userId: z.string(), email: z.email() });
const sendWelcome = defineJob({ name: 'email.welcome', queue: 'emails', payload: signup, attempts: 1 });
const createAccount = defineJob({
  name: 'billing.create',
  queue: 'billing',
  payload: z.object({ customer: z.string() }),
  attempts: 1,
});
const userSignedUp = defineEvent({
  name: 'user.signed_up',
  payload: signup,
  subscribers: [sendWelcome, { job: createAccount, map: (e) => ({ customer: e.userId }) }],
  idempotencyKey: (e) => e.userId,
});
const registry = defineRegistry([sendWelcome, createAccount], [userSignedUp]);

describe('fan-out', () => {
  const t = useJobsTest();

  it('enqueues one job per subscriber; a failing subscriber leaves the others alone', async () => {
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    const ran: string[] = [];
    const worker = createWorker(
      registry,
      {
        'email.welcome': async (p) => {
          ran.push(`welcome ${p.email}`);
        },
        'billing.create': async () => {
          throw new PermanentJobError('BILLING_DOWN', 'billing refused');
        },
      },
      { connection: t.connect('worker'), prefix: t.prefix },
    );
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    const r = await producer.publish('user.signed_up', { userId: 'u1', email: 'u1@example.com' });
    expect(r.deduplicated).toBe(false);
    expect(r.jobs.map((j) => [j.name, j.queue])).toEqual([
      ['email.welcome', 'emails'],
      ['billing.create', 'billing'],
    ]);
    await waitFor(() => producer.queue('billing.dead').getJob(letterIdFor(r.jobs[1]!.jobId)));
    const welcome = await waitFor(async () => {
      const j = await producer.queue('emails').getJob(r.jobs[0]!.jobId);
      return j?.finishedOn ? j : undefined;
    });
    expect(await welcome.getState()).toBe('completed');
    expect(ran).toEqual(['welcome u1@example.com']);
    expect(await producer.queue('emails.dead').count()).toBe(0);

    // The same event again: nothing new.
    const again = await producer.publish('user.signed_up', { userId: 'u1', email: 'u1@example.com' });
    expect(again.deduplicated).toBe(true);
    expect(again.jobs.map((j) => j.jobId)).toEqual(r.jobs.map((j) => j.jobId));
  });

  it('enqueues none when one subscriber cannot take the job', async () => {
    const producer = createProducer(registry, {
      connection: t.connect('producer'),
      prefix: t.prefix,
      maxBacklog: { emails: 100, billing: 1 },
    });
    t.defer(() => producer.close());
    await producer.enqueue('billing.create', { customer: 'someone' });
    await expect(producer.publish('user.signed_up', { userId: 'u2', email: 'u2@example.com' })).rejects.toBeInstanceOf(
      QueueFullError,
    );
    expect(await producer.queue('emails').count()).toBe(0);
    expect(await producer.queue('billing').count()).toBe(1);
    await expect(producer.publish('user.signed_up', { userId: 'u3', email: 'not an email' })).rejects.toBeInstanceOf(
      JobPayloadInvalidError,
    );
    expect(await producer.queue('emails').count()).toBe(0);
  });

  it('finishes a publish that a crash interrupted', async () => {
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    // A publish that recorded its event and enqueued one of two jobs, then died.
    const admin = t.connect('admin');
    await admin.hset(
      `${t.prefix}:event:u4`,
      'record',
      JSON.stringify({ name: 'user.signed_up', payload: { userId: 'u4', email: 'u4@example.com' } }),
    );
    await admin.zadd(`${t.prefix}:events:pending`, Date.now() - 60_000, 'u4');
    await producer.enqueue('email.welcome', { userId: 'u4', email: 'u4@example.com' }, { idempotencyKey: 'evt-u4' });
    expect(await producer.resumePendingEvents()).toBe(1);
    expect(await producer.queue('emails').count()).toBe(1);
    expect(await producer.queue('billing').count()).toBe(1);
    expect(await admin.zcard(`${t.prefix}:events:pending`)).toBe(0);
  });
  it('has workers finish an interrupted publish on their own', async () => {
    const admin = t.connect('admin');
    await admin.hset(
      `${t.prefix}:event:u5`,
      'record',
      JSON.stringify({ name: 'user.signed_up', payload: { userId: 'u5', email: 'u5@example.com' } }),
    );
    await admin.zadd(`${t.prefix}:events:pending`, Date.now() - 60_000, 'u5');
    const ran: string[] = [];
    const worker = createWorker(
      registry,
      {
        'email.welcome': async (p) => {
          ran.push(`welcome ${p.userId}`);
        },
        'billing.create': async (p) => {
          ran.push(`billing ${p.customer}`);
        },
      },
      { connection: t.connect('worker'), prefix: t.prefix, eventRecoveryIntervalMs: 100 },
    );
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    await waitFor(() => ran.length === 2);
    expect(ran.sort()).toEqual(['billing u5', 'welcome u5']);
    expect(await admin.zcard(`${t.prefix}:events:pending`)).toBe(0);
  });
});

describe('enqueueBulk, the done marker and metrics', () => {
  const t = useJobsTest();

  it('enqueues a batch, deduplicating by key, and refuses the whole batch on one bad payload', async () => {
    const metrics = createMetrics();
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix, metrics });
    t.defer(() => producer.close());
    const items = Array.from({ length: 5 }, (_, i) => ({
      name: 'billing.create' as const,
      payload: { customer: `c${i}` },
      opts: { idempotencyKey: `c${i}` },
    }));
    const first = await producer.enqueueBulk(items);
    expect(first.map((r) => r.deduplicated)).toEqual([false, false, false, false, false]);
    const second = await producer.enqueueBulk(items.slice(0, 2));
    expect(second.map((r) => r.deduplicated)).toEqual([true, true]);
    expect(await producer.queue('billing').count()).toBe(5);
    await expect(
      producer.enqueueBulk([...items, { name: 'billing.create', payload: { customer: 7 as unknown as string } }]),
    ).rejects.toBeInstanceOf(JobPayloadInvalidError);
    const text = await metrics.register.metrics();
    expect(text).toContain('bullpen_jobs_enqueued_total{queue="billing",job="billing.create"} 5');
    expect(text).toContain('bullpen_jobs_deduplicated_total{queue="billing",job="billing.create"} 2');
  });

  it('completes a job whose key is already done without running it again', async () => {
    const metrics = createMetrics();
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    let runs = 0;
    const worker = createWorker(
      registry,
      {
        'email.welcome': async () => {
          runs++;
          return { sent: runs };
        },
        'billing.create': async () => {},
      },
      { connection: t.connect('worker'), prefix: t.prefix, metrics },
    );
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    const payload = { userId: 'u9', email: 'u9@example.com' };
    const a = await producer.enqueue('email.welcome', payload, { idempotencyKey: 'welcome-u9' });
    await waitFor(async () => (await producer.queue('emails').getJob(a.jobId))?.finishedOn);
    // Retention removed the completed job; the same work is enqueued again.
    await producer.queue('emails').remove(a.jobId);
    const b = await producer.enqueue('email.welcome', payload, { idempotencyKey: 'welcome-u9' });
    expect(b.deduplicated).toBe(false);
    const job = await waitFor(async () => {
      const j = await producer.queue('emails').getJob(b.jobId);
      return j?.finishedOn ? j : undefined;
    });
    expect(job.returnvalue).toEqual({ sent: 1 });
    expect(runs).toBe(1);
    const text = await metrics.register.metrics();
    expect(text).toContain('bullpen_jobs_completed_total{queue="emails",job="email.welcome"} 2');
    expect(text).toMatch(/bullpen_queue_jobs\{queue="emails",state="completed"\} 1/);
    expect(text).toMatch(/bullpen_queue_jobs\{queue="emails.dead",state="waiting"\} 0/);
    expect(text).toMatch(/bullpen_queue_workers\{queue="emails"\} [1-9]/);
    expect(text).not.toContain('bullpen_queue_workers{queue="emails.dead"}');
  });
});
