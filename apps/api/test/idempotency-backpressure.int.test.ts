import { closeRedis, createProducer, createRedisConnection } from '@bullpen/jobs';
import { registry, uploadKeys } from '@bullpen/uploads';
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { filesUnder, fileUpload, jobCount, makeImage, useApiApp } from './helpers.ts';

describe('Idempotency-Key and back-pressure', () => {
  const api = useApiApp();
  const { t } = api;

  const post = async (
    api: FastifyInstance,
    image: Buffer,
    headers: Record<string, string> = {},
    fields: Record<string, string> = {},
  ) => {
    const req = fileUpload(image, 'a.png', 'image/png', fields);
    return api.inject({
      method: 'POST',
      url: '/uploads',
      payload: req.payload,
      headers: { ...req.headers, ...headers },
    });
  };

  it('answers a retried request with the first answer and creates nothing new', async () => {
    const app = await api.start();
    const img = await makeImage('png', 300, 200);
    const first = await post(app, img, { 'idempotency-key': 'order-42-photo' });
    expect(first.statusCode).toBe(202);
    const second = await post(app, img, { 'idempotency-key': 'order-42-photo' });
    expect(second.statusCode).toBe(202);
    expect(second.json()).toEqual(first.json());
    expect(second.headers.location).toBe(first.headers.location);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(await jobCount(t, 'images')).toBe(1);
    expect(filesUnder(api.dir)).toEqual([uploadKeys.original(first.json().uploadId)]);

    // Another key is another upload.
    const other = await post(app, img, { 'idempotency-key': 'order-43-photo' });
    expect(other.json().uploadId).not.toBe(first.json().uploadId);
    expect(await jobCount(t, 'images')).toBe(2);
  });

  it('refuses the same key with another file (409) and stores nothing for it', async () => {
    const app = await api.start();
    const first = await post(app, await makeImage('png', 300, 200), { 'idempotency-key': 'k-1' });
    expect(first.statusCode).toBe(202);
    const conflict = await post(app, await makeImage('png', 301, 200), { 'idempotency-key': 'k-1' });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json().error.code).toBe('IDEMPOTENCY_KEY_CONFLICT');
    // The same file with other fields is another request too.
    const fields = await post(app, await makeImage('png', 300, 200), { 'idempotency-key': 'k-1' }, { sizes: '128' });
    expect(fields.statusCode).toBe(409);
    expect(await jobCount(t, 'images')).toBe(1);
    expect(filesUnder(api.dir)).toEqual([uploadKeys.original(first.json().uploadId)]);
  });

  it('lets a key be used again after its first request was refused', async () => {
    const app = await api.start();
    const bad = await post(app, Buffer.from('not an image'), { 'idempotency-key': 'k-2' });
    expect(bad.statusCode).toBe(415);
    const good = await post(app, await makeImage('png', 100, 100), { 'idempotency-key': 'k-2' });
    expect(good.statusCode).toBe(202);
  });

  it('answers 503 with Retry-After over the backlog cap, stores nothing, and accepts again once drained', async () => {
    const app = await api.start({ QUEUE_MAX_BACKLOG: '2' });
    const img = await makeImage('png', 64, 64);
    for (let i = 0; i < 2; i++) expect((await post(app, img)).statusCode).toBe(202);
    const full = await post(app, img, { 'x-request-id': 'full-1', 'idempotency-key': 'k-full' });
    expect(full.statusCode).toBe(503);
    expect(full.json()).toEqual({ error: { code: 'QUEUE_FULL', message: expect.any(String), requestId: 'full-1' } });
    expect(Number(full.headers['retry-after'])).toBeGreaterThan(0);
    expect(filesUnder(api.dir).filter((f) => f.startsWith('originals/'))).toHaveLength(2);
    expect(filesUnder(api.dir).filter((f) => f.startsWith('.tmp'))).toEqual([]);
    expect(await jobCount(t, 'images')).toBe(2);

    // An operator drains the queue (here by hand; in production workers do).
    const conn = createRedisConnection(t.url, 'admin');
    const producer = createProducer(registry, { connection: conn, prefix: t.prefix });
    try {
      await producer.queue('images').drain();
    } finally {
      await producer.close();
      await closeRedis(conn);
    }
    // The refused request's Idempotency-Key was not spent.
    const again = await post(app, img, { 'idempotency-key': 'k-full' });
    expect(again.statusCode).toBe(202);
  });
});
