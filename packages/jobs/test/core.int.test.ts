import { waitFor } from '@bullpen/test-utils';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createJobAdmin,
  createProducer,
  createWorker,
  defineJob,
  defineRegistry,
  JobPayloadInvalidError,
  letterIdFor,
  PermanentJobError,
  QueueFullError,
} from '../src/index.ts';
import { useJobsTest } from './helpers.ts';

const greet = defineJob({
  name: 'greet.send',
  queue: 'greetings',
  payload: z.object({ to: z.string().min(1), times: z.number().int().default(1) }),
  attempts: 3,
  backoff: { type: 'fixed', delay: 50 },
  idempotencyKey: (p) => `${p.to}-${p.times}`,
});
const flaky = defineJob({
  name: 'flaky.run',
  queue: 'greetings',
  payload: z.object({ id: z.string() }),
  attempts: 3,
  backoff: { type: 'exponential', delay: 50 },
});
const registry = defineRegistry([greet, flaky]);

describe('producer and worker', () => {
  const t = useJobsTest();

  function setup(handlers: Parameters<typeof createWorker<typeof registry>>[1], maxBacklog?: number) {
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix, maxBacklog });
    const worker = createWorker(registry, handlers, {
      connection: t.connect('worker'),
      prefix: t.prefix,
      concurrency: 2,
    });
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    t.defer(() => producer.close());
    return { producer, worker };
  }

  it('enqueues typed work and runs its handler with the parsed payload', async () => {
    const seen: unknown[] = [];
    const { producer } = setup({
      'greet.send': async (p, ctx) => {
        seen.push({ p, attempt: ctx.attempt, key: ctx.job.idempotencyKey });
        return { ok: true };
      },
      'flaky.run': async () => {},
    });
    const r = await producer.enqueue('greet.send', { to: 'ada' });
    expect(r).toMatchObject({ queue: 'greetings', name: 'greet.send', deduplicated: false });
    const job = await waitFor(async () => {
      const j = await producer.queue('greetings').getJob(r.jobId);
      return j?.finishedOn ? j : undefined;
    });
    expect(job.returnvalue).toEqual({ ok: true });
    expect(seen).toEqual([{ p: { to: 'ada', times: 1 }, attempt: 1, key: 'ada-1' }]);
  });

  it('refuses an invalid payload before enqueue and writes nothing to Redis', async () => {
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    const err = await producer.enqueue('greet.send', { to: '' }).catch((e) => e);
    expect(err).toBeInstanceOf(JobPayloadInvalidError);
    expect(err.code).toBe('JOB_PAYLOAD_INVALID');
    expect(err.issues[0].path).toEqual(['to']);
    const admin = t.connect('admin');
    expect(await admin.keys(`${t.prefix}*`)).toEqual([]);
  });

  it('gives one job for the same idempotency key enqueued twice', async () => {
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    const a = await producer.enqueue('greet.send', { to: 'bob', times: 2 });
    const b = await producer.enqueue('greet.send', { to: 'bob', times: 2 });
    expect(a.deduplicated).toBe(false);
    expect(b).toEqual({ ...a, deduplicated: true });
    expect(await producer.queue('greetings').getJobCounts('waiting')).toEqual({ waiting: 1 });
  });

  it('enqueues a key claimed new in one command, without the duplicate check (issue 12)', async () => {
    const connection = t.connect('producer');
    const producer = createProducer(registry, { connection, prefix: t.prefix });
    t.defer(() => producer.close());
    // BullMQ writes the queue's meta on its first add: not per job.
    await producer.enqueue('greet.send', { to: 'warm-up' });
    const sent: string[] = [];
    const send = connection.sendCommand.bind(connection);
    connection.sendCommand = ((cmd: { name: string }) => {
      sent.push(cmd.name);
      return send(cmd as never);
    }) as typeof connection.sendCommand;
    const first = await producer.enqueue('greet.send', { to: 'fresh' }, { newKey: true });
    expect(first.deduplicated).toBe(false);
    expect(sent).toEqual(['evalsha']);
    // Checked, the same key says deduplicated (EXISTS in the same round trip); claimed new, it cannot tell,
    // and BullMQ still keeps the one job.
    sent.length = 0;
    expect((await producer.enqueue('greet.send', { to: 'fresh' })).deduplicated).toBe(true);
    expect(sent.sort()).toEqual(['evalsha', 'exists']);
    expect((await producer.enqueue('greet.send', { to: 'fresh' }, { newKey: true })).deduplicated).toBe(false);
    expect(await producer.queue('greetings').getJobCounts('waiting')).toEqual({ waiting: 2 });
  });

  it('retries a transient failure with backoff until it succeeds', async () => {
    const attempts: number[] = [];
    const { producer } = setup({
      'greet.send': async () => {},
      'flaky.run': async (_p, ctx) => {
        attempts.push(ctx.attempt);
        if (ctx.attempt < 3) throw new Error(`boom ${ctx.attempt}`);
        return 'fine';
      },
    });
    const r = await producer.enqueue('flaky.run', { id: 'x' });
    const job = await waitFor(async () => {
      const j = await producer.queue('greetings').getJob(r.jobId);
      return j?.finishedOn ? j : undefined;
    });
    expect(job.returnvalue).toBe('fine');
    expect(attempts).toEqual([1, 2, 3]);
    // The second delay doubles the first: exponential backoff.
    expect(await producer.queue('greetings.dead').count()).toBe(0);
  });

  it('dead-letters a job on its final failure, once, with every attempt error', async () => {
    const { producer } = setup({
      'greet.send': async () => {},
      'flaky.run': async (_p, ctx) => {
        throw new Error(`attempt ${ctx.attempt} failed for order 1234`);
      },
    });
    const r = await producer.enqueue('flaky.run', { id: 'y' });
    const dlq = producer.queue('greetings.dead');
    const letter = await waitFor(() => dlq.getJob(letterIdFor(r.jobId)));
    await waitFor(async () => (await producer.queue('greetings').getJob(r.jobId))?.finishedOn);
    expect(await dlq.count()).toBe(1);
    expect(letter.data).toMatchObject({
      sourceQueue: 'greetings',
      name: 'flaky.run',
      jobId: r.jobId,
      payload: { id: 'y' },
      code: 'JOB_FAILED',
      error: { name: 'Error', message: 'attempt 3 failed for order 1234' },
      fingerprintText: 'Error: attempt <n> failed for order <n>',
    });
    expect(letter.data.attempts.map((a: { message: string }) => a.message)).toEqual([
      'attempt 1 failed for order 1234',
      'attempt 2 failed for order 1234',
      'attempt 3 failed for order 1234',
    ]);
    expect(letter.data.attempts[0].stack).toContain('core.int.test.ts');
  });

  it('dead-letters a permanent error at once, without retrying', async () => {
    let calls = 0;
    const { producer } = setup({
      'greet.send': async () => {},
      'flaky.run': async () => {
        calls++;
        throw new PermanentJobError('ORDER_GONE', 'order was deleted');
      },
    });
    const r = await producer.enqueue('flaky.run', { id: 'z' });
    const letter = await waitFor(() => producer.queue('greetings.dead').getJob(letterIdFor(r.jobId)));
    expect(letter.data.code).toBe('ORDER_GONE');
    expect(letter.data.attempts).toHaveLength(1);
    await new Promise((res) => setTimeout(res, 300));
    expect(calls).toBe(1);
  });

  it('dead-letters a queued payload that no longer validates, without retrying', async () => {
    let calls = 0;
    const { producer } = setup({
      'greet.send': async () => {
        calls++;
      },
      'flaky.run': async () => {},
    });
    // A foreign producer writes straight into the queue with plain BullMQ.
    await producer
      .queue('greetings')
      .add('greet.send', { payload: { to: 42 }, meta: {} }, { jobId: 'foreign-1', attempts: 5 });
    await producer.queue('greetings').add('greet.send', 'not even an object', { jobId: 'foreign-2', attempts: 5 });
    // A fitting payload with a malformed envelope is refused too.
    await producer
      .queue('greetings')
      .add('greet.send', { payload: { to: 'x' }, meta: { key: 5 } }, { jobId: 'foreign-3', attempts: 5 });
    const dlq = producer.queue('greetings.dead');
    const [a, b, c] = await Promise.all(
      ['foreign-1', 'foreign-2', 'foreign-3'].map((id) => waitFor(() => dlq.getJob(id))),
    );
    expect(a!.data.code).toBe('JOB_PAYLOAD_INVALID');
    expect(b!.data.code).toBe('JOB_PAYLOAD_INVALID');
    expect(c!.data.code).toBe('JOB_PAYLOAD_INVALID');
    expect(a!.data.attempts).toHaveLength(1);
    expect(calls).toBe(0);
  });

  it('refuses at the backlog cap and accepts again once drained', async () => {
    const producer = createProducer(registry, {
      connection: t.connect('producer'),
      prefix: t.prefix,
      maxBacklog: 3,
    });
    t.defer(() => producer.close());
    for (let i = 0; i < 3; i++) await producer.enqueue('flaky.run', { id: String(i) });
    const err = await producer.enqueue('flaky.run', { id: 'over' }).catch((e) => e);
    expect(err).toBeInstanceOf(QueueFullError);
    expect(err.code).toBe('QUEUE_FULL');
    expect(err.retryAfterMs).toBeGreaterThan(0);
    await expect(producer.assertRoom('flaky.run')).rejects.toBeInstanceOf(QueueFullError);
    expect(await producer.queue('greetings').count()).toBe(3);
    const worker = createWorker(
      registry,
      { 'greet.send': async () => {}, 'flaky.run': async () => {} },
      {
        connection: t.connect('worker'),
        prefix: t.prefix,
      },
    );
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    await waitFor(async () => (await producer.queue('greetings').count()) === 0);
    await producer.assertRoom('flaky.run');
    await expect(producer.enqueue('flaky.run', { id: 'after' })).resolves.toMatchObject({ deduplicated: false });
  });

  it('replays a dead letter to success, recording replayOf and an audit entry', async () => {
    let fail = true;
    const replayOf: (string | undefined)[] = [];
    const { producer } = setup({
      'greet.send': async (_p, ctx) => {
        replayOf.push(ctx.job.replayOf);
        if (fail) throw new PermanentJobError('DOWNSTREAM_DOWN', 'downstream refused');
        return 'delivered';
      },
      'flaky.run': async () => {},
    });
    const r = await producer.enqueue('greet.send', { to: 'cy' });
    await waitFor(() => producer.queue('greetings.dead').getJob(r.jobId));
    fail = false;
    const admin = createJobAdmin(registry, { connection: t.connect('admin'), prefix: t.prefix });
    t.defer(() => admin.close());
    const dry = await admin.replay({ ids: [r.jobId] }, { actor: 'tester', dryRun: true });
    expect(dry.outcomes[0]).toMatchObject({ status: 'would-replay' });
    expect(await producer.queue('greetings.dead').count()).toBe(1);
    const report = await admin.replay({ ids: [r.jobId] }, { actor: 'tester' });
    expect(report).toMatchObject({ replayed: 1, refused: 0 });
    const newId = report.outcomes[0]!.newJobId!;
    const job = await waitFor(async () => {
      const j = await producer.queue('greetings').getJob(newId);
      return j?.finishedOn ? j : undefined;
    });
    expect(job.returnvalue).toBe('delivered');
    expect(job.data.meta).toMatchObject({ replayOf: r.jobId, key: 'cy-1' });
    expect(replayOf).toEqual([undefined, r.jobId]);
    expect(await producer.queue('greetings.dead').count()).toBe(0);
    const [entry] = await admin.audit.list();
    expect(entry).toMatchObject({ actor: 'tester', action: 'replay', ids: [r.jobId], outcome: 'ok' });
  });
});
