import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { waitFor } from '@bullpen/test-utils';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  type AlertOptions,
  createAlerts,
  createProducer,
  createWorker,
  type DeadLetter,
  defineJob,
  defineRegistry,
  PermanentJobError,
  verifyWebhookSignature,
} from '../src/index.ts';
import { useJobsTest } from './helpers.ts';

const task = defineJob({
  name: 'task.run',
  queue: 'tasks',
  payload: z.object({ id: z.string(), error: z.string().default('') }),
  attempts: 1,
});
const registry = defineRegistry([task]);
const SECRET = 'alert-secret-0123456789';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  json: { id: string; event: string; subjectId: string; data: Record<string, unknown> };
}

/** A real HTTP receiver on loopback; `answers` are the statuses of the next requests (then 200). */
async function startReceiver(answers: number[] = []) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body, json: JSON.parse(body) });
      res.writeHead(answers.shift() ?? 200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function capturingLogger() {
  const events: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _e, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) events.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, stream), events };
}

function letter(over: Partial<DeadLetter> = {}): DeadLetter {
  return {
    sourceQueue: 'tasks',
    name: 'task.run',
    jobId: `j-${Math.random()}`,
    payload: {},
    meta: {},
    code: 'JOB_FAILED',
    error: { name: 'Error', message: 'disk on fire' },
    attempts: [],
    fingerprint: 'fp-one',
    fingerprintText: 'Error: disk on fire',
    enqueuedAt: new Date().toISOString(),
    failedAt: new Date().toISOString(),
    ...over,
  };
}

describe('alerts', () => {
  const t = useJobsTest();
  const receivers: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });

  async function setup(opts: Partial<AlertOptions> = {}, answers: number[] = []) {
    const receiver = await startReceiver(answers);
    receivers.push(receiver);
    const { logger, events } = capturingLogger();
    const alerts = createAlerts(registry, {
      connection: t.connect('producer'),
      prefix: t.prefix,
      logger,
      webhook: { url: receiver.url, secret: SECRET },
      buildVersion: 'v1.2.3',
      checkIntervalMs: 0,
      ...opts,
    });
    t.defer(() => alerts.close());
    return { alerts, receiver, events };
  }

  it('alerts once on a dead-letter fingerprint seen for the first time, naming the build, signed like upload webhooks', async () => {
    const { alerts, receiver, events } = await setup();
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    const worker = createWorker(
      registry,
      {
        'task.run': (p) => {
          throw new PermanentJobError('TASK_BROKEN', p.error);
        },
      },
      { connection: t.connect('worker'), prefix: t.prefix, onDeadLetter: alerts.onDeadLetter },
    );
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    t.defer(() => producer.close());

    await producer.enqueue('task.run', { id: 'a', error: 'bucket missing' });
    const first = await waitFor(() => receiver.received[0], 20_000, 'the first alert');
    expect(first.json).toMatchObject({
      event: 'alert.fired',
      subjectId: 'tasks',
      data: {
        kind: 'dead_letter.new_fingerprint',
        queue: 'tasks',
        job: 'task.run',
        code: 'TASK_BROKEN',
        error: 'bucket missing',
        buildVersion: 'v1.2.3',
      },
    });
    expect(first.json.data.message).toMatch(/New failure in tasks \/ task\.run on build v1\.2\.3/);
    expect(verifyWebhookSignature(SECRET, first.headers['bullpen-signature'] as string, first.body)).toBe(true);
    expect(first.headers['idempotency-key']).toBe(first.json.id);
    expect(first.headers['bullpen-event']).toBe('alert.fired');

    // The same failure again: no alert. Another failure: one more.
    await producer.enqueue('task.run', { id: 'b', error: 'bucket missing' });
    await producer.enqueue('task.run', { id: 'c', error: 'quota exceeded' });
    const second = await waitFor(() => receiver.received[1], 20_000, 'the second alert');
    expect(second.json.data).toMatchObject({ kind: 'dead_letter.new_fingerprint', error: 'quota exceeded' });
    await waitFor(
      async () => (await producer.queues.dead('tasks').getJobCounts('waiting')).waiting === 3,
      20_000,
      'three letters',
    );
    await alerts.close();
    expect(receiver.received).toHaveLength(2);
    expect(events.filter((e) => e.msg === 'alert.fired').map((e) => e.kind)).toEqual([
      'dead_letter.new_fingerprint',
      'dead_letter.new_fingerprint',
    ]);
  });

  it('reports a new fingerprint once when two workers letter it at the same moment', async () => {
    const a = await setup();
    const b = createAlerts(registry, {
      connection: t.connect('producer'),
      prefix: t.prefix,
      webhook: { url: a.receiver.url, secret: SECRET },
      checkIntervalMs: 0,
    });
    t.defer(() => b.close());
    await Promise.all([a.alerts.onDeadLetter(letter()), b.onDeadLetter(letter())]);
    await a.alerts.close();
    await b.close();
    expect(a.receiver.received).toHaveLength(1);
  });

  it('alerts when a backlog reaches its share of the cap, once per window', async () => {
    const { alerts, receiver } = await setup({ backlogCap: 10, backlogShare: 0.8, noWorkerSeconds: 0 });
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    await producer.enqueueBulk(
      Array.from({ length: 7 }, (_, i) => ({
        name: 'task.run' as const,
        payload: { id: `d${i}` },
        opts: { delay: 600_000 },
      })),
    );
    expect(await alerts.check()).toEqual([]);
    await producer.enqueue('task.run', { id: 'd7' }, { delay: 600_000 });
    const [fired] = await alerts.check();
    expect(fired).toMatchObject({ kind: 'queue.backlog', queue: 'tasks', details: { backlog: 8, cap: 10 } });
    expect(await alerts.check()).toEqual([]);
    await alerts.close();
    expect(receiver.received.map((r) => r.json.data.kind)).toEqual(['queue.backlog']);
  });

  it('alerts when jobs wait with no worker for the set time, and checks in one process at a time', async () => {
    const { alerts, receiver } = await setup({ noWorkerSeconds: 1 });
    const other = createAlerts(registry, { connection: t.connect('producer'), prefix: t.prefix, checkIntervalMs: 0 });
    t.defer(() => other.close());
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    await producer.enqueue('task.run', { id: 'w1' });

    // The first check starts the clock; an alert once a second has passed with the job still waiting.
    const fired = await waitFor(async () => (await alerts.check())[0], 20_000, 'the no-worker alert');
    expect(fired).toMatchObject({ kind: 'queue.no_worker', queue: 'tasks', details: { waiting: 1, threshold: 1 } });
    expect(Number(fired.details.seconds)).toBeGreaterThanOrEqual(1);
    // The other process does not check while the lease is held.
    expect(await other.check()).toEqual([]);
    await alerts.close();
    expect(receiver.received.map((r) => r.json.data.kind)).toEqual(['queue.no_worker']);

    // The lease is free again: the other one checks now, and a worker clears the condition.
    const worker = createWorker(
      registry,
      { 'task.run': () => {} },
      { connection: t.connect('worker'), prefix: t.prefix },
    );
    t.defer(() => worker.close({ deadlineMs: 1000 }));
    await waitFor(async () => (await producer.queue('tasks').getJobCounts('waiting')).waiting === 0, 20_000);
    expect(await other.check()).toEqual([]);
    expect(await t.connect('admin').exists(`${t.prefix}:alerts:no-worker-since:tasks`)).toBe(0);
  });

  it('alerts when the dead-letter rate passes its threshold, and retries a failed delivery with the same id', async () => {
    const { alerts, receiver } = await setup({ deadLetterRate: 0.2, noWorkerSeconds: 0 }, [503]);
    // 2 letters in 5 minutes: 0.4 a minute, over 0.2.
    await alerts.onDeadLetter(letter({ fingerprint: 'fp-a' }));
    expect(await alerts.check()).toEqual([]);
    await alerts.onDeadLetter(letter({ fingerprint: 'fp-a' }));
    const fired = (await alerts.check()).find((a) => a.kind === 'dead_letter.rate');
    expect(fired).toMatchObject({
      queue: 'tasks',
      details: { letters: 2, minutes: 5, perMinute: 0.4, threshold: 0.2 },
    });
    await alerts.close();
    // The new-fingerprint alert met a 503 first and was delivered on its second attempt.
    const kinds = receiver.received.map((r) => [r.json.data.kind, r.headers['bullpen-delivery-attempt']]);
    expect(kinds).toEqual(
      expect.arrayContaining([
        ['dead_letter.new_fingerprint', '1'],
        ['dead_letter.new_fingerprint', '2'],
        ['dead_letter.rate', '1'],
      ]),
    );
    const fp = receiver.received.filter((r) => r.json.data.kind === 'dead_letter.new_fingerprint');
    expect(fp[0]!.headers['idempotency-key']).toBe(fp[1]!.headers['idempotency-key']);
  });

  it('checks on its own every interval', async () => {
    const { receiver } = await setup({ backlogCap: 1, checkIntervalMs: 100, noWorkerSeconds: 0 });
    const producer = createProducer(registry, { connection: t.connect('producer'), prefix: t.prefix });
    t.defer(() => producer.close());
    await producer.enqueue('task.run', { id: 'i1' }, { delay: 600_000 });
    const got = await waitFor(() => receiver.received[0], 20_000, 'an alert from the periodic check');
    expect(got.json.data).toMatchObject({ kind: 'queue.backlog', backlog: 1, cap: 1 });
  });

  it('logs alerts without a webhook', async () => {
    const { logger, events } = capturingLogger();
    const alerts = createAlerts(registry, {
      connection: t.connect('producer'),
      prefix: t.prefix,
      logger,
      checkIntervalMs: 0,
    });
    t.defer(() => alerts.close());
    await alerts.onDeadLetter(letter({ fingerprint: 'fp-log' }));
    expect(events.find((e) => e.msg === 'alert.fired')).toMatchObject({
      level: 40,
      kind: 'dead_letter.new_fingerprint',
      queue: 'tasks',
      fingerprint: 'fp-log',
      buildVersion: 'unknown',
    });
  });
});
