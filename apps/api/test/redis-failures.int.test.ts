import { type RedisServerHandle, startRedisServer, uniquePrefix, waitFor } from '@bullpen/test-utils';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { apiConfig, filesUnder, fileUpload, makeImage, removeDir, tempDir } from './helpers.ts';

/**
 * Issue 10, defect 4: with Redis at maxmemory (noeviction) every upload was answered 500 INTERNAL_ERROR and
 * /readyz said 200; during a Redis SIGKILL one upload got 500 (MaxRetriesPerRequestError). Every Redis
 * failure must be a 503 with Retry-After and a stable code, and /readyz must probe a write.
 */
describe('the API when Redis fails', () => {
  let server: RedisServerHandle;
  let app: FastifyInstance | undefined;
  let admin: Redis;
  let dir: string;

  beforeEach(async () => {
    // Its own Redis: it is filled up and killed.
    server = await startRedisServer();
    admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
    admin.on('error', () => {});
    dir = tempDir();
    app = await buildApp(apiConfig({ url: server.url, prefix: uniquePrefix() }, dir));
  });
  afterEach(async () => {
    await app?.close();
    admin.disconnect();
    await server.stop();
    removeDir(dir);
  });

  const upload = async (headers: Record<string, string> = {}) => {
    const req = fileUpload(await makeImage('png', 64, 64), 'a.png', 'image/png');
    return app!.inject({
      method: 'POST',
      url: '/uploads',
      payload: req.payload,
      headers: { ...req.headers, ...headers },
    });
  };

  it('answers 503 REDIS_UNAVAILABLE with Retry-After at maxmemory, keeps nothing, and is not ready', async () => {
    expect((await upload()).statusCode).toBe(202);
    const before = filesUnder(dir);
    await admin.config('SET', 'maxmemory', '1');

    for (const headers of [{}, { 'idempotency-key': 'full-1' }] as Record<string, string>[]) {
      const res = await upload({ ...headers, 'x-request-id': 'oom-1' });
      expect(res.statusCode, res.body).toBe(503);
      expect(res.json()).toEqual({
        error: { code: 'REDIS_UNAVAILABLE', message: expect.any(String), requestId: 'oom-1' },
      });
      expect(res.body).not.toMatch(/OOM|maxmemory/);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    }
    expect(filesUnder(dir)).toEqual(before);

    const ready = await app!.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().error.code).toBe('NOT_READY');
    expect(ready.headers['retry-after']).toBeDefined();
    // Reads still work: status pages keep answering.
    expect((await app!.inject({ method: 'GET', url: '/uploads/abcdefgh1234' })).statusCode).toBe(404);

    await admin.config('SET', 'maxmemory', '0');
    expect((await app!.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    expect((await upload({ 'idempotency-key': 'full-1' })).statusCode).toBe(202);
  });

  it('answers 503 with Retry-After, never 500, while Redis is down, and recovers when it is back', async () => {
    expect((await upload()).statusCode).toBe(202);
    process.kill(server.pid, 'SIGKILL');
    await waitFor(() => admin.status !== 'ready', 5000, 'the connection to drop');

    const statuses = new Map<string, number>();
    for (let i = 0; i < 4; i++) {
      for (const res of [
        await upload(i % 2 ? { 'idempotency-key': `down-${i}` } : {}),
        await app!.inject({ method: 'GET', url: '/uploads/abcdefgh1234' }),
      ]) {
        expect(res.statusCode, res.body).toBe(503);
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
        const code = res.json().error.code as string;
        statuses.set(code, (statuses.get(code) ?? 0) + 1);
      }
    }
    expect([...statuses.keys()].every((c) => c === 'REDIS_UNAVAILABLE' || c === 'QUEUE_UNAVAILABLE')).toBe(true);
    expect((await app!.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    expect(filesUnder(dir).filter((f) => f.startsWith('.tmp'))).toEqual([]);
    expect(filesUnder(dir).filter((f) => f.startsWith('originals/'))).toHaveLength(1);

    server = await startRedisServer({ port: server.port });
    await waitFor(async () => (await app!.inject({ method: 'GET', url: '/readyz' })).statusCode === 200, 10_000);
    expect((await upload()).statusCode).toBe(202);
  });
});
