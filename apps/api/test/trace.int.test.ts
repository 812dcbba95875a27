import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort, useRedisTest, waitFor } from '@bullpen/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { type Child, fileUpload, makeImage, removeDir, spawnApp, stopChild, tempDir, waitForHttp } from './helpers.ts';

/** A span as an OTLP/JSON export carries it, with its service. */
interface ReceivedSpan {
  service: string;
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  attributes: Record<string, string | number | boolean>;
}

type OtlpValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
type OtlpAttribute = { key: string; value: OtlpValue };
interface OtlpExport {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: {
      spans?: {
        name: string;
        kind: number;
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        attributes?: OtlpAttribute[];
      }[];
    }[];
  }[];
}

const otlpValue = (v: OtlpValue) =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue ?? ''));
const attrs = (list: OtlpAttribute[] = []) => Object.fromEntries(list.map((a) => [a.key, otlpValue(a.value)]));
/** OTLP/JSON ids are hex; tolerate base64 too. */
const hexId = (id = '') => (/^[0-9a-f]*$/i.test(id) ? id.toLowerCase() : Buffer.from(id, 'base64').toString('hex'));

/** A real OTLP/HTTP receiver (JSON) on loopback: keeps every span exported to /v1/traces. */
async function startOtlpReceiver() {
  const spans: ReceivedSpan[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const data = JSON.parse(body) as OtlpExport;
        for (const rs of data.resourceSpans ?? []) {
          const service = String(attrs(rs.resource?.attributes)['service.name'] ?? '');
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              spans.push({
                service,
                name: s.name,
                kind: s.kind,
                traceId: hexId(s.traceId),
                spanId: hexId(s.spanId),
                parentSpanId: hexId(s.parentSpanId),
                attributes: attrs(s.attributes),
              });
            }
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** The webhook receiver the upload's callbackUrl points at. */
async function startCallbackReceiver() {
  const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('one trace from POST /uploads through image.resize to webhook.deliver', () => {
  const t = useRedisTest();
  const children: (Child | undefined)[] = [];
  const closers: (() => Promise<void>)[] = [];
  let dir: string | undefined;

  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => stopChild(c)));
    await Promise.all(closers.splice(0).map((c) => c()));
    removeDir(dir);
    dir = undefined;
  });

  it('links the API request, the resize and the delivery across two processes, with job attributes and trace ids in the logs', {
    timeout: 240_000,
  }, async () => {
    const otlp = await startOtlpReceiver();
    const hook = await startCallbackReceiver();
    closers.push(otlp.close, hook.close);
    dir = tempDir('trace');
    const [apiPort, workerPort] = [await freePort(), await freePort()];
    const common = {
      REDIS_URL: t.url,
      BULLPEN_PREFIX: t.prefix,
      STORAGE_DIR: dir,
      CALLBACK_ALLOW_PRIVATE: 'true',
      LOG_LEVEL: 'info',
      // The standard variables only: where, how, and export fast.
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '200',
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
      ALERT_CHECK_INTERVAL_MS: '0',
    };
    const api = spawnApp('api', { ...common, API_PORT: String(apiPort), API_MAX_EVENT_LOOP_DELAY_MS: '0' });
    const worker = spawnApp('worker', { ...common, WORKER_HTTP_PORT: String(workerPort), WORKER_CONCURRENCY: '2' });
    children.push(api, worker);
    await waitForHttp(`http://127.0.0.1:${apiPort}/healthz`, 90_000);
    await waitForHttp(`http://127.0.0.1:${workerPort}/healthz`, 90_000);

    const started = performance.now();
    const upload = fileUpload(await makeImage('jpeg', 640, 480), 'photo.jpg', 'image/jpeg', { callbackUrl: hook.url });
    const res = await fetch(`http://127.0.0.1:${apiPort}/uploads`, {
      method: 'POST',
      headers: upload.headers,
      body: new Uint8Array(upload.payload),
    });
    expect(res.status, await res.clone().text()).toBe(202);
    const { uploadId, jobId } = (await res.json()) as { uploadId: string; jobId: string };
    await waitFor(() => hook.received.length > 0, 120_000, 'the webhook to be delivered');
    const deliveredMs = performance.now() - started;

    const isProcess = (s: ReceivedSpan, job: string) =>
      s.name.startsWith('process ') && s.attributes['bullmq.job.name'] === job;
    const spans = await waitFor(
      () => {
        const s = otlp.spans;
        const found = {
          request: s.find(
            (x) => x.service === 'bullpen-api' && x.name === 'request' && x.attributes['http.route'] === '/uploads',
          ),
          addResize: s.find((x) => x.service === 'bullpen-api' && x.name === 'add images.image.resize'),
          resize: s.find((x) => x.service === 'bullpen-worker' && isProcess(x, 'image.resize')),
          addWebhook: s.find((x) => x.service === 'bullpen-worker' && x.name === 'add webhooks.webhook.deliver'),
          deliver: s.find((x) => x.service === 'bullpen-worker' && isProcess(x, 'webhook.deliver')),
        };
        return Object.values(found).every(Boolean) ? (found as { [K in keyof typeof found]: ReceivedSpan }) : undefined;
      },
      60_000,
      'the spans of both processes to be exported',
    );
    const exportedMs = performance.now() - started;
    console.log(
      `trace test: webhook delivered after ${Math.round(deliveredMs)} ms, every span exported after ${Math.round(exportedMs)} ms`,
    );

    const { request, addResize, resize, addWebhook, deliver } = spans;
    // One trace across both processes.
    const traceId = request.traceId;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    for (const s of [addResize, resize, addWebhook, deliver]) expect(s.traceId).toBe(traceId);
    // The request is the root; the enqueue happens under it (inside its route handler's span).
    expect(request.parentSpanId).toBe('');
    const byId = new Map(otlp.spans.map((s) => [s.spanId, s]));
    const ancestors = (s: ReceivedSpan) => {
      const out: ReceivedSpan[] = [];
      for (let p = byId.get(s.parentSpanId); p; p = byId.get(p.parentSpanId)) out.push(p);
      return out;
    };
    expect(ancestors(addResize).map((s) => s.spanId)).toContain(request.spanId);
    // Each job's processing is a child of the span that enqueued it; the webhook is enqueued inside the resize.
    expect(resize.parentSpanId).toBe(addResize.spanId);
    expect(addWebhook.parentSpanId).toBe(resize.spanId);
    expect(deliver.parentSpanId).toBe(addWebhook.spanId);

    // Queue, job name, job id (BullMQ's), attempt and upload id (Bullpen's).
    expect(resize.attributes).toMatchObject({
      'bullmq.queue.name': 'images',
      'bullmq.job.name': 'image.resize',
      'bullmq.job.id': jobId,
      'bullpen.job.attempt': 1,
      'bullpen.upload_id': uploadId,
      'bullpen.job.idempotency_key': uploadId,
    });
    expect(deliver.attributes).toMatchObject({
      'bullmq.queue.name': 'webhooks',
      'bullmq.job.name': 'webhook.deliver',
      'bullpen.job.attempt': 1,
      'bullpen.upload_id': uploadId,
    });
    expect(addResize.attributes).toMatchObject({ 'bullmq.job.id': jobId });
    expect(ancestors(addResize).some((s) => s.attributes['bullpen.upload_id'] === uploadId)).toBe(true);

    // Log lines carry the trace id.
    const lines = (c: Child) =>
      c
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg?: string; trace_id?: string; span_id?: string });
    const accepted = lines(api).find((l) => l.msg === 'upload.accepted');
    expect(accepted?.trace_id).toBe(traceId);
    const done = lines(worker).find((l) => l.msg === 'upload.done');
    expect(done).toMatchObject({ trace_id: traceId, span_id: resize.spanId });
    expect(lines(worker).find((l) => l.msg === 'webhook.delivered')?.trace_id).toBe(traceId);
  });
});
