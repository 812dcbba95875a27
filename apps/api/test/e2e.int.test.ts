import { closeRedis, createProducer, createRedisConnection, letterIdFor } from '@bullpen/jobs';
import { freePort, useRedisTest, waitFor } from '@bullpen/test-utils';
import { registry, uploadKeys } from '@bullpen/uploads';
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
    expect(filesUnder(dir).filter((f) => f.startsWith('uploads/'))).toHaveLength(3 * 6 - 3);
    expect(filesUnder(dir).filter((f) => f.startsWith('originals/'))).toEqual(
      uploads.map((u) => uploadKeys.original(u.id)).sort(),
    );
    expect(filesUnder(dir).filter((f) => f.startsWith('.tmp'))).toEqual([]);
    // The request id travelled into the worker's log.
    expect(worker.output()).toContain('"requestId":"e2e-jpeg"');
  });

  // Issue 12: the door checks structure without decoding, so damage inside the entropy-coded data of a JPEG
  // passes it; the worker's decode refuses such a file, and dead-letters it on its first attempt.
  it('accepts a JPEG with garbage inside its scan data at the door, and the worker makes it dead with IMAGE_CORRUPT', async () => {
    dir = tempDir();
    app = await buildApp(apiConfig(t, dir));
    const port = await freePort();
    worker = spawnApp('worker', {
      REDIS_URL: t.url,
      BULLPEN_PREFIX: t.prefix,
      STORAGE_DIR: dir,
      WORKER_HTTP_PORT: String(port),
      LOG_LEVEL: 'warn',
    });
    await waitForHttp(`http://127.0.0.1:${port}/healthz`);

    const jpeg = Buffer.from(await makeImage('jpeg', 900, 600, { noise: true }));
    let sos = 2;
    while (!(jpeg[sos] === 0xff && jpeg[sos + 1] === 0xda)) sos++;
    const scan = sos + 2 + jpeg.readUInt16BE(sos + 2);
    // 2 KB of garbage that a structural walk cannot tell from entropy-coded data: its FF bytes are all stuffing
    // (FF 00) or restart markers, which a decoder meets where no restart interval was declared.
    const garbage = Buffer.alloc(2000);
    for (let i = 0, x = 12345; i < garbage.length; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      garbage[i] = garbage[i - 1] === 0xff ? (i % 3 ? 0x00 : 0xd0 + (i % 8)) : x >> 16;
    }
    if (garbage.at(-1) === 0xff) garbage[garbage.length - 1] = 0;
    garbage.copy(jpeg, scan + Math.floor((jpeg.length - scan) / 2));

    const req = fileUpload(jpeg, 'damaged.jpg', 'image/jpeg');
    const res = await app.inject({ method: 'POST', url: '/uploads', payload: req.payload, headers: req.headers });
    expect(res.statusCode, res.body).toBe(202);
    const status = await waitFor(
      async () => {
        const s = (await app!.inject({ method: 'GET', url: res.json().statusUrl })).json();
        return s.status === 'dead' ? s : undefined;
      },
      30_000,
      'the damaged upload to be dead',
    );
    expect(status.error.code).toBe('IMAGE_CORRUPT');
    expect(status.variants).toEqual([]);
    // Dead-lettered on its first attempt, not retried.
    const conn = createRedisConnection(t.url, 'admin');
    const producer = createProducer(registry, { connection: conn, prefix: t.prefix });
    try {
      const letter = await producer.queue('images.dead').getJob(letterIdFor(status.jobId));
      expect(letter?.data.code).toBe('IMAGE_CORRUPT');
      expect(letter?.data.attempts).toHaveLength(1);
    } finally {
      await producer.close();
      await closeRedis(conn);
    }
  });
});
