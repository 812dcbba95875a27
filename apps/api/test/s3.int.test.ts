import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { S3Storage } from '@bullpen/storage/s3';
import { freePort, type S3ServerHandle, startS3Server, useRedisTest, waitFor } from '@bullpen/test-utils';
import { uploadKeys } from '@bullpen/uploads';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
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

const BUCKET = 'bullpen-e2e';

describe('uploads kept in S3 (STORAGE_URL=s3://...), shared by the API and a worker on another folder', () => {
  const t = useRedisTest();
  let s3: S3ServerHandle;
  let app: FastifyInstance | undefined;
  let worker: Child | undefined;
  const dirs: string[] = [];

  beforeAll(async () => {
    s3 = await startS3Server({ buckets: [BUCKET] });
  });
  afterAll(async () => {
    await s3?.stop();
  });
  afterEach(async () => {
    await stopChild(worker);
    await app?.close();
    vi.unstubAllEnvs();
    for (const d of dirs.splice(0)) removeDir(d);
    worker = undefined;
    app = undefined;
  });

  /** Keys in the bucket under `prefix/`, seen without the prefix. */
  async function bucketKeys(prefix: string): Promise<string[]> {
    const whole = new S3Storage({ bucket: BUCKET, tempDir: path.join(s3.dir, 'unused'), client: s3.clientConfig });
    try {
      return (await whole.list(prefix)).map((k) => k.slice(prefix.length + 1));
    } finally {
      whole.close();
    }
  }

  it('takes an upload, has the worker make its variants in the bucket, and serves them', async () => {
    const prefix = `e2e-${randomBytes(4).toString('hex')}`;
    const storageEnv = { STORAGE_URL: `s3://${BUCKET}/${prefix}`, STORAGE_S3_FORCE_PATH_STYLE: 'true' };
    const apiDir = tempDir('api-s3');
    const workerDir = tempDir('worker-s3');
    dirs.push(apiDir, workerDir);

    // The API in this process: the AWS SDK reads endpoint, region and credentials from the environment.
    for (const [k, v] of Object.entries(s3.awsEnv)) vi.stubEnv(k, v);
    app = await buildApp(apiConfig(t, apiDir, storageEnv));
    // The worker as a process of its own, on a folder of its own: only the bucket is shared.
    const port = await freePort();
    worker = spawnApp('worker', {
      REDIS_URL: t.url,
      BULLPEN_PREFIX: t.prefix,
      STORAGE_DIR: workerDir,
      ...storageEnv,
      ...s3.awsEnv,
      WORKER_HTTP_PORT: String(port),
      LOG_LEVEL: 'info',
    });
    await waitForHttp(`http://127.0.0.1:${port}/healthz`);

    // A refused upload leaves nothing in the bucket.
    const junk = fileUpload(Buffer.from('not an image at all'), 'x.jpg', 'image/jpeg');
    const refused = await app.inject({ method: 'POST', url: '/uploads', payload: junk.payload, headers: junk.headers });
    expect(refused.statusCode).toBe(415);
    expect(await bucketKeys(prefix)).toEqual([]);

    const req = fileUpload(await makeImage('jpeg', 1200, 800), 'photo.jpg', 'image/jpeg');
    const res = await app.inject({ method: 'POST', url: '/uploads', payload: req.payload, headers: req.headers });
    expect(res.statusCode, res.body).toBe(202);
    const { uploadId, statusUrl } = res.json();
    expect(await bucketKeys(prefix)).toEqual([uploadKeys.original(uploadId)]);

    const status = await waitFor(
      async () => {
        const s = (await app!.inject({ method: 'GET', url: statusUrl })).json();
        return s.status === 'done' ? s : undefined;
      },
      30_000,
      'the upload to be done',
    );
    const names = [128, 512, 1024].flatMap((w) => [`${w}.webp`, `${w}.jpeg`]);
    expect(status.variants.map((v: { name: string }) => v.name)).toEqual(names);
    for (const v of status.variants as { name: string; url: string; format: string; width: number }[]) {
      const got = await app.inject({ method: 'GET', url: v.url });
      expect(got.statusCode).toBe(200);
      expect(got.headers['content-type']).toBe(`image/${v.format}`);
      const meta = await sharp(got.rawPayload).metadata();
      expect([meta.format, meta.width]).toEqual([v.format, v.width]);
      const again = await app.inject({
        method: 'GET',
        url: v.url,
        headers: { 'if-none-match': String(got.headers.etag) },
      });
      expect(again.statusCode).toBe(304);
    }
    // Everything is in the bucket; neither folder holds an object (nor a leftover staging file).
    expect(await bucketKeys(prefix)).toEqual(
      [uploadKeys.original(uploadId), ...names.map((n) => `uploads/${uploadId}/${n}`)].sort(),
    );
    expect(filesUnder(apiDir)).toEqual([]);
    expect(filesUnder(workerDir)).toEqual([]);
    expect(worker.output()).toContain('"msg":"upload.done"');
  });
});
