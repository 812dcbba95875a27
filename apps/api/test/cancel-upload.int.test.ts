import { createJobAdmin } from '@bullpen/jobs';
import { freePort, useRedisTest, waitFor } from '@bullpen/test-utils';
import { registry, resizeJobId, UploadRecords, uploadKeys } from '@bullpen/uploads';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
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

/** The files an upload owns: its original and its variants' folder. */
const ownedFiles = (dir: string) => (id: string) =>
  filesUnder(dir).filter((f) => f === uploadKeys.original(id) || f.startsWith(`uploads/${id}/`));

describe('DELETE /uploads/:id', () => {
  const t = useRedisTest();
  let app: FastifyInstance | undefined;
  let worker: Child | undefined;
  let dir: string | undefined;
  const clients: Redis[] = [];

  afterEach(async () => {
    await stopChild(worker);
    await app?.close();
    for (const c of clients.splice(0)) c.disconnect();
    removeDir(dir);
    worker = undefined;
    app = undefined;
    dir = undefined;
  });

  async function upload(image: Buffer): Promise<string> {
    const req = fileUpload(image, 'photo.jpg', 'image/jpeg');
    const res = await app!.inject({ method: 'POST', url: '/uploads', payload: req.payload, headers: req.headers });
    expect(res.statusCode, res.body).toBe(202);
    return res.json().uploadId as string;
  }

  function redis(): Redis {
    const c = new Redis(t.url);
    clients.push(c);
    return c;
  }

  it('cancels a queued upload: the job is removed, nothing stays stored, and a second DELETE answers the same', async () => {
    dir = tempDir();
    app = await buildApp(apiConfig(t, dir));
    const id = await upload(await makeImage('jpeg', 800, 600));
    expect(filesUnder(dir)).toContain(uploadKeys.original(id));

    const res = await app.inject({ method: 'DELETE', url: `/uploads/${id}` });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ uploadId: id, status: 'cancelled', variants: [] });
    expect(ownedFiles(dir)(id)).toEqual([]);
    const admin = createJobAdmin(registry, { connection: redis(), prefix: t.prefix });
    try {
      expect(await admin.queues.get('images').getJob(resizeJobId(id))).toBeUndefined();
      const [entry] = await admin.audit.list({ limit: 1 });
      expect(entry).toMatchObject({ action: 'cancel', ids: [resizeJobId(id)], queue: 'images', outcome: 'ok' });
      expect(entry!.actor).toMatch(/^api:/);
      expect(entry!.detail).toMatchObject({ outcomes: [{ status: 'removed' }] });
    } finally {
      await admin.close();
    }
    expect((await app.inject({ method: 'GET', url: `/uploads/${id}` })).json()).toMatchObject({ status: 'cancelled' });
    const again = await app.inject({ method: 'DELETE', url: `/uploads/${id}` });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ uploadId: id, status: 'cancelled' });
    expect((await app.inject({ method: 'DELETE', url: '/uploads/nope-nope-nope' })).json()).toMatchObject({
      error: { code: 'NOT_FOUND' },
    });
  });

  it('stops a resize running on a worker process, deletes the variants made so far, and answers cancelled', async () => {
    dir = tempDir();
    app = await buildApp(apiConfig(t, dir));
    const port = await freePort();
    worker = spawnApp('worker', {
      REDIS_URL: t.url,
      BULLPEN_PREFIX: t.prefix,
      STORAGE_DIR: dir,
      WORKER_HTTP_PORT: String(port),
      // Slow enough between variants to be caught mid-resize.
      WORKER_TEST_STEP_DELAY_MS: '3000',
      LOG_LEVEL: 'info',
    });
    await waitForHttp(`http://127.0.0.1:${port}/healthz`);
    const id = await upload(await makeImage('jpeg', 1600, 1200, { noise: true }));
    const records = new UploadRecords(redis(), t.prefix);
    await waitFor(
      async () => {
        const r = await records.get(id);
        return r?.status === 'processing' && r.variants.length >= 1;
      },
      60_000,
      'the first variant',
    );
    expect(filesUnder(dir)).toContain(uploadKeys.original(id));
    expect(filesUnder(dir).filter((f) => f.startsWith(`uploads/${id}/`)).length).toBeGreaterThanOrEqual(1);

    const asked = Date.now();
    const res = await app.inject({ method: 'DELETE', url: `/uploads/${id}` });
    const tookMs = Date.now() - asked;
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ uploadId: id, status: 'cancelled', variants: [] });
    console.info(`DELETE /uploads/:id of a running resize answered in ${tookMs} ms`);
    expect(ownedFiles(dir)(id)).toEqual([]);

    const admin = createJobAdmin(registry, { connection: redis(), prefix: t.prefix });
    try {
      const [found] = await admin.findJobs(id);
      expect(found).toMatchObject({ queue: 'images', state: 'cancelled', deadLetter: false });
      const [entry] = await admin.audit.list({ limit: 1 });
      expect(entry!.detail).toMatchObject({ outcomes: [{ status: 'signalled', state: 'cancelled' }] });
      expect(await admin.queues.dead('images').count()).toBe(0);
    } finally {
      await admin.close();
    }
    // The worker wrote nothing more for it, and the record stayed cancelled (its onCancel agreed).
    await new Promise((r) => setTimeout(r, 1500));
    expect(ownedFiles(dir)(id)).toEqual([]);
    expect(await records.get(id)).toMatchObject({ status: 'cancelled', variants: [] });
    expect(worker.output()).toContain('job.cancelled');
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).ok).toBe(true);
  }, 120_000);
});
