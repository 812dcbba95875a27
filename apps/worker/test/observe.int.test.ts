import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { loggerOptions, verifyWebhookSignature } from '@bullpen/jobs';
import { useRedisTest, waitFor } from '@bullpen/test-utils';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { buildWorker, type WorkerApp } from '../src/app.ts';
import { makeImage, removeDir, type Seeder, seeder, tempDir, workerConfig } from './helpers.ts';

const ALERT_SECRET = 'alert-secret-0123456789';

/** A real HTTP receiver on loopback answering `status`. */
async function receiver(status: number) {
  const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/in`,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** The worker's logger at info (what job logs keep), writing nowhere. */
function pinoAtInfo() {
  return pino(loggerOptions({ name: 'worker', level: 'info' }), new Writable({ write: (_c, _e, cb) => cb() }));
}

describe('what the worker shows of its jobs', () => {
  const t = useRedisTest();
  let dir: string | undefined;
  let worker: WorkerApp | undefined;
  let s: Seeder | undefined;
  const servers: { close(): Promise<void> }[] = [];

  afterEach(async () => {
    await worker?.close({ deadlineMs: 2000 });
    await s?.close();
    await Promise.all(servers.splice(0).map((x) => x.close()));
    worker = undefined;
    s = undefined;
    removeDir(dir);
  });

  it('writes handler log lines to the job’s log, collects BullMQ metrics, and alerts a new failure kind with the build, signed', async () => {
    const alerts = await receiver(204);
    const gone = await receiver(410);
    servers.push(alerts, gone);
    dir = tempDir();
    s = seeder(t, dir);
    worker = await buildWorker(
      workerConfig(t, dir, {
        ALERT_WEBHOOK_URL: alerts.url,
        ALERT_WEBHOOK_SECRET: ALERT_SECRET,
        BUILD_VERSION: 'v9.9.9',
        ALERT_CHECK_INTERVAL_MS: '0',
      }),
      // Info lines are what job logs keep; this test does not print them.
      { logger: pinoAtInfo() },
    );
    const jobId = await s.seed('upload-observe1', await makeImage('png', 200, 100), {
      format: 'png',
      width: 200,
      height: 100,
      sizes: [128],
      callbackUrl: gone.url,
    });
    const alert = await waitFor(() => alerts.received[0], 30_000, 'the new-fingerprint alert');

    // The receiver's 410 dead-lettered webhook.deliver: a failure kind never seen, named with the build.
    const body = JSON.parse(alert.body);
    expect(body).toMatchObject({
      event: 'alert.fired',
      subjectId: 'webhooks',
      data: {
        kind: 'dead_letter.new_fingerprint',
        job: 'webhook.deliver',
        code: 'WEBHOOK_REJECTED',
        buildVersion: 'v9.9.9',
      },
    });
    expect(verifyWebhookSignature(ALERT_SECRET, alert.headers['bullpen-signature'] as string, alert.body)).toBe(true);

    // Bull Board's Logs tab: the handler's own line, short.
    const images = s.producer.queue('images');
    const { logs } = await images.getJobLogs(jobId);
    expect(logs.some((l) => / info upload\.done \{"uploadId":"upload-observe1","variants":2\}$/.test(l))).toBe(true);
    // Bull Board's charts: BullMQ's per-minute metrics.
    expect((await images.getMetrics('completed')).meta.count).toBe(1);
    expect((await s.producer.queue('webhooks').getMetrics('failed')).meta.count).toBe(1);
  });
});
