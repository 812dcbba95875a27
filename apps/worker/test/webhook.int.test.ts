import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeRedis, createJobAdmin, createRedisConnection } from '@bullpen/jobs';
import { useRedisTest, waitFor } from '@bullpen/test-utils';
import { registry } from '@bullpen/uploads';
import { afterEach, describe, expect, it } from 'vitest';
import { buildWorker, type WorkerApp } from '../src/app.ts';
import { verifyWebhookSignature } from '../src/webhook-signature.ts';
import { makeImage, removeDir, type Seeder, seeder, tempDir, workerConfig } from './helpers.ts';

const SECRET = 'test-secret-0123456789abcdef';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver on loopback that answers with the statuses given, in order (the last repeats). */
async function receiver(statuses: number[], host = '127.0.0.1') {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      const status = statuses[Math.min(received.length - 1, statuses.length - 1)]!;
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${(server.address() as AddressInfo).port}/hook`;
  return {
    url,
    received,
    statuses,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('webhook.deliver', () => {
  const t = useRedisTest();
  let dir: string | undefined;
  let worker: WorkerApp | undefined;
  let s: Seeder | undefined;
  let server: Awaited<ReturnType<typeof receiver>> | undefined;

  afterEach(async () => {
    await worker?.close({ deadlineMs: 2000 });
    await s?.close();
    await server?.close();
    worker = undefined;
    s = undefined;
    server = undefined;
    removeDir(dir);
  });

  async function start(statuses: number[], extra: Record<string, string> = {}, host?: string) {
    dir = tempDir();
    s = seeder(t, dir);
    server = await receiver(statuses, host);
    worker = await buildWorker(workerConfig(t, dir, extra));
    return { seed: s, hook: server };
  }

  it('delivers once when the upload is done, signed and with an Idempotency-Key', async () => {
    const { seed, hook } = await start([204]);
    await seed.seed('upload-hook1', await makeImage('png', 200, 100), {
      format: 'png',
      width: 200,
      height: 100,
      sizes: [128],
      callbackUrl: hook.url,
    });
    await waitFor(
      async () => (await seed.records.get('upload-hook1'))?.webhook === 'delivered',
      20_000,
      'webhook delivered',
    );
    expect(hook.received).toHaveLength(1);
    const [req] = hook.received;
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.headers['idempotency-key']).toBe('upload.completed-upload-hook1');
    expect(req!.headers['bullpen-event']).toBe('upload.completed');
    expect(verifyWebhookSignature(SECRET, req!.headers['bullpen-signature'] as string, req!.body)).toBe(true);
    expect(
      verifyWebhookSignature('another-secret-0123456789', req!.headers['bullpen-signature'] as string, req!.body),
    ).toBe(false);
    expect(verifyWebhookSignature(SECRET, req!.headers['bullpen-signature'] as string, `${req!.body} `)).toBe(false);
    const body = JSON.parse(req!.body);
    expect(body).toMatchObject({
      id: 'upload.completed-upload-hook1',
      event: 'upload.completed',
      subjectId: 'upload-hook1',
      data: { uploadId: 'upload-hook1', status: 'done', variants: [{ name: '128.webp' }, { name: '128.png' }] },
    });
    // Nothing more arrives.
    await new Promise((r) => setTimeout(r, 300));
    expect(hook.received).toHaveLength(1);
  });

  it('delivers to an IPv6 literal callback (issue 10, defect 7)', async () => {
    const { seed, hook } = await start([204], {}, '::1');
    expect(hook.url).toMatch(/^http:\/\/\[::1\]:\d+\/hook$/);
    const job = await seed.producer.enqueue('webhook.deliver', {
      url: hook.url,
      event: 'test.happened',
      subjectId: 'ipv6-1',
      body: { n: 1 },
    });
    await waitFor(async () => (await seed.producer.queue('webhooks').getJob(job.jobId))?.isCompleted(), 20_000);
    expect(hook.received).toHaveLength(1);
  });

  it('retries a 503 with backoff, then delivers', async () => {
    const { seed, hook } = await start([503, 200]);
    const job = await seed.producer.enqueue('webhook.deliver', {
      url: hook.url,
      event: 'test.happened',
      subjectId: 'retry-1',
      body: { n: 1 },
    });
    const done = await waitFor(
      async () => {
        const j = await seed.producer.queue('webhooks').getJob(job.jobId);
        return j && (await j.isCompleted()) ? j : undefined;
      },
      20_000,
      'delivery after a retry',
    );
    expect(done.returnvalue).toEqual({ status: 200 });
    expect(hook.received.map((r) => r.headers['bullpen-delivery-attempt'])).toEqual(['1', '2']);
    // The same delivery: same key and body on both attempts.
    expect(new Set(hook.received.map((r) => r.headers['idempotency-key'])).size).toBe(1);
    expect(hook.received[0]!.body).toBe(hook.received[1]!.body);
  });

  it('dead-letters a 4xx at once (WEBHOOK_REJECTED), and delivers after a replay', async () => {
    const { seed, hook } = await start([410]);
    await seed.seed('upload-hook2', await makeImage('jpeg', 100, 100), {
      format: 'jpeg',
      width: 100,
      height: 100,
      sizes: [128],
      callbackUrl: hook.url,
    });
    const jobId = 'webhook.deliver#upload.completed-upload-hook2';
    const letter = await waitFor(() => seed.producer.queue('webhooks.dead').getJob(jobId), 20_000, 'dead letter');
    expect(letter.data.code).toBe('WEBHOOK_REJECTED');
    expect(letter.data.attempts).toHaveLength(1);
    expect(hook.received).toHaveLength(1);
    await waitFor(async () => (await seed.records.get('upload-hook2'))?.webhook === 'dead');
    // The upload itself is done: a failed webhook does not undo it.
    expect((await seed.records.get('upload-hook2'))?.status).toBe('done');

    hook.statuses.push(200);
    const conn = createRedisConnection(t.url, 'admin');
    const admin = createJobAdmin(registry, { connection: conn, prefix: t.prefix });
    try {
      const report = await admin.replay({ ids: [jobId] }, { actor: 'test' });
      expect(report).toMatchObject({ replayed: 1, refused: 0 });
    } finally {
      await admin.close();
      await closeRedis(conn);
    }
    await waitFor(
      async () => (await seed.records.get('upload-hook2'))?.webhook === 'delivered',
      20_000,
      'delivered after replay',
    );
    expect(hook.received).toHaveLength(2);
    expect(hook.received[1]!.headers['idempotency-key']).toBe('upload.completed-upload-hook2');
    expect(
      verifyWebhookSignature(SECRET, hook.received[1]!.headers['bullpen-signature'] as string, hook.received[1]!.body),
    ).toBe(true);
  });

  it('refuses a loopback target at delivery time unless CALLBACK_ALLOW_PRIVATE', async () => {
    const { seed, hook } = await start([200], { CALLBACK_ALLOW_PRIVATE: 'false' });
    const job = await seed.producer.enqueue('webhook.deliver', {
      url: hook.url,
      event: 'test.happened',
      subjectId: 'ssrf-1',
      body: {},
    });
    const letter = await waitFor(() => seed.producer.queue('webhooks.dead').getJob(job.jobId), 20_000, 'dead letter');
    expect(letter.data.code).toBe('WEBHOOK_TARGET_FORBIDDEN');
    expect(hook.received).toHaveLength(0);
  });
});
