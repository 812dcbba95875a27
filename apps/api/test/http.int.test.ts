import type { Readable } from 'node:stream';
import { LocalStorage } from '@bullpen/storage';
import { waitFor } from '@bullpen/test-utils';
import { describe, expect, it } from 'vitest';
import { fileUpload, makeImage, useApiApp } from './helpers.ts';

describe('page, operations and documentation', () => {
  const api = useApiApp();

  it('serves the upload page, health, readiness and Prometheus metrics', async () => {
    const app = await api.start();
    const page = await app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toContain('<input type="file"');
    expect(page.body).toContain("fetch('/uploads'");

    expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'ok' });

    const req = fileUpload(await makeImage('jpeg', 64, 64), 'a.jpg', 'image/jpeg');
    expect(
      (await app.inject({ method: 'POST', url: '/uploads', payload: req.payload, headers: req.headers })).statusCode,
    ).toBe(202);
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toContain('bullpen_jobs_enqueued_total{queue="images",job="image.resize"} 1');
    expect(metrics.body).toContain('bullpen_queue_jobs{queue="images",state="waiting"} 1');
    expect(metrics.body).toContain('process_cpu_user_seconds_total');
    expect(metrics.body).toContain(
      'bullpen_http_request_duration_seconds_count{method="POST",route="/uploads",status="202"} 1',
    );
  });

  it('answers unknown routes and ids with NOT_FOUND in the error format', async () => {
    const app = await api.start();
    for (const url of [
      '/nope',
      '/uploads/abcdefgh1234',
      '/uploads/..%2F..%2Fetc',
      '/uploads/abcdefgh1234/variants/128.webp',
      '/uploads/abcdefgh1234/variants/..%2Foriginal',
    ]) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json()).toEqual({
        error: { code: 'NOT_FOUND', message: expect.any(String), requestId: expect.any(String) },
      });
    }
  });

  it('publishes an OpenAPI document generated from the zod schemas, and its docs page', async () => {
    const app = await api.start();
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(doc.openapi).toMatch(/^3\./);
    const post = doc.paths['/uploads'].post;
    expect(Object.keys(post.requestBody.content)).toEqual(['multipart/form-data']);
    expect(post.requestBody.content['multipart/form-data'].schema.properties.file).toMatchObject({
      type: 'string',
      format: 'binary',
    });
    expect(post.responses['202'].content['application/json'].schema.properties.status).toMatchObject({
      enum: ['queued'],
    });
    const status = doc.paths['/uploads/{id}'].get.responses['200'].content['application/json'].schema;
    expect(status.properties.status.enum).toEqual(['queued', 'processing', 'done', 'failed', 'dead', 'cancelled']);
    expect(doc.paths['/uploads/{id}'].delete.summary).toMatch(/Cancel an upload/);
    const docs = await app.inject({ method: 'GET', url: '/docs' });
    expect([200, 302]).toContain(docs.statusCode);
  });

  it('answers 503 SERVICE_OVERLOADED under memory pressure, but still answers /healthz', async () => {
    const app = await api.start({ API_MAX_HEAP_BYTES: '1' });
    const res = await waitFor(async () => {
      const r = await app.inject({ method: 'GET', url: '/uploads/abcdefgh1234' });
      return r.statusCode === 503 ? r : undefined;
    });
    expect(res.json().error.code).toBe('SERVICE_OVERLOADED');
    expect(res.headers['retry-after']).toBe('5');
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('answers an unexpected error with a generic 500 and leaks nothing of it', async () => {
    class BrokenStorage extends LocalStorage {
      override async stage(source: Readable): Promise<never> {
        source.resume();
        throw new Error('disk on fire at /secret/path');
      }
    }
    const app = await api.start({}, (dir) => ({ storage: new BrokenStorage(dir) }));
    const req = fileUpload(await makeImage('jpeg', 64, 64), 'a.jpg', 'image/jpeg');
    const res = await app.inject({
      method: 'POST',
      url: '/uploads',
      payload: req.payload,
      headers: { ...req.headers, 'x-request-id': 'boom-1' },
    });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({
      error: { code: 'INTERNAL_ERROR', message: 'Internal server error', requestId: 'boom-1' },
    });
  });
});
