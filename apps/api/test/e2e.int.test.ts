import { freePort, useRedisTest, waitFor } from '@bullpen/test-utils';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import {
  apiConfig,
  type Child,
  filesUnder,
  fileUpload,
  makeImage,
  removeDir,
  spawnApp,
  stopChild,
  tempDir,
  waitForHttp,
} from './helpers.ts';

describe('upload to variants, with a real worker process', () => {
  const t = useRedisTest();
  let app: FastifyInstance | undefined;
  let worker: Child | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    await stopChild(worker);
    await app?.close();
    removeDir(dir);
    worker = undefined;
    app = undefined;
    dir = undefined;
  });

  it('resizes a JPEG, a PNG and a WebP, reports done and serves each variant with its type, ETag and 304', async () => {
    dir = tempDir();
    app = await buildApp(apiConfig(t, dir));
    const port = await freePort();
    worker = spawnApp('worker', {
      REDIS_URL: t.url,
      BULLPEN_PREFIX: t.prefix,
      STORAGE_DIR: dir,
      WORKER_HTTP_PORT: String(port),
      LOG_LEVEL: 'info',
    });
    await waitForHttp(`http://127.0.0.1:${port}/healthz`);

    const uploads: { format: 'jpeg' | 'png' | 'webp'; id: string; statusUrl: string }[] = [];
    for (const format of ['jpeg', 'png', 'webp'] as const) {
      const req = fileUpload(await makeImage(format, 1200, 800), `photo.${format}`, `image/${format}`);
      const res = await app.inject({
        method: 'POST',
        url: '/uploads',
        payload: req.payload,
        headers: { ...req.headers, 'x-request-id': `e2e-${format}` },
      });
      expect(res.statusCode, res.body).toBe(202);
      uploads.push({ format, id: res.json().uploadId, statusUrl: res.json().statusUrl });
    }

    for (const u of uploads) {
      const status = await waitFor(
        async () => {
          const s = (await app!.inject({ method: 'GET', url: u.statusUrl })).json();
          return s.status === 'done' ? s : undefined;
        },
        30_000,
        `${u.format} upload to be done`,
      );
      expect(status.progress).toBe(100);
      const formats = u.format === 'webp' ? ['webp'] : ['webp', u.format];
      expect(status.variants.map((v: { name: string }) => v.name)).toEqual(
        [128, 512, 1024].flatMap((w) => formats.map((f) => `${w}.${f}`)),
      );
      for (const v of status.variants as {
        name: string;
        url: string;
        width: number;
        height: number;
        format: string;
      }[]) {
        const res = await app.inject({ method: 'GET', url: v.url });
        expect(res.statusCode).toBe(200);
        expect(res.headers['content-type']).toBe(`image/${v.format}`);
        expect(res.headers['cache-control']).toContain('immutable');
        const meta = await sharp(res.rawPayload).metadata();
        const width = Number(v.name.split('.')[0]);
        expect([meta.format, meta.width, meta.height]).toEqual([v.format, width, Math.round((width * 800) / 1200)]);
        expect([v.width, v.height]).toEqual([meta.width, meta.height]);
        const again = await app.inject({
          method: 'GET',
          url: v.url,
          headers: { 'if-none-match': String(res.headers.etag) },
        });
        expect(again.statusCode).toBe(304);
        expect(again.rawPayload.length).toBe(0);
      }
      const missing = await app.inject({ method: 'GET', url: `/uploads/${u.id}/variants/128.gif` });
      expect(missing.statusCode).toBe(404);
      expect(missing.json().error.code).toBe('NOT_FOUND');
    }
    // Every variant exists once, nothing else is left (no temporary files).
    expect(filesUnder(dir).filter((f) => !f.endsWith('/original'))).toHaveLength(3 * 6 - 3);
    expect(filesUnder(dir).filter((f) => f.startsWith('.tmp'))).toEqual([]);
    // The request id travelled into the worker's log.
    expect(worker.output()).toContain('"requestId":"e2e-jpeg"');
  });
});
