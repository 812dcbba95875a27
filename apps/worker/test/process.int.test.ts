import { statSync } from 'node:fs';
import path from 'node:path';
import { freePort, useRedisTest, waitFor } from '@bullpen/test-utils';
import { uploadKeys } from '@bullpen/uploads';
import { afterEach, describe, expect, it } from 'vitest';
import { planVariants } from '../src/handlers/image-resize.ts';
import {
  type Child,
  filesUnder,
  makeImage,
  removeDir,
  type Seeder,
  seeder,
  spawnWorker,
  stopChild,
  tempDir,
  workerEnv,
} from './helpers.ts';

// Short locks so a killed worker's job is taken over within seconds.
const FAST_RECOVERY = { WORKER_LOCK_DURATION_MS: '2000', WORKER_STALLED_INTERVAL_MS: '1000' };

describe('worker processes', () => {
  const t = useRedisTest();
  let dir: string | undefined;
  let s: Seeder | undefined;
  const children: Child[] = [];

  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => stopChild(c)));
    await s?.close();
    s = undefined;
    removeDir(dir);
    dir = undefined;
  });

  async function startWorker(extra: Record<string, string>) {
    const port = await freePort();
    const child = spawnWorker(
      workerEnv(t, dir!, { ...FAST_RECOVERY, WORKER_HTTP_PORT: String(port), LOG_LEVEL: 'info', ...extra }),
    );
    children.push(child);
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok,
      20_000,
      `worker on ${port} to start\n${child.output()}`,
    );
    return { child, port };
  }

  /** Everything the upload has in storage: its variants, and its original (kept flat under `originals/`). */
  const expectedFiles = (uploadId: string) =>
    [
      ...planVariants({ format: 'jpeg', sizes: [128, 512, 1024] }).map((v) => `uploads/${uploadId}/${v.name}`),
      uploadKeys.original(uploadId),
    ].sort();
  const filesOf = (uploadId: string) =>
    filesUnder(dir!).filter((f) => f.startsWith(`uploads/${uploadId}/`) || f === uploadKeys.original(uploadId));

  async function seedJob(uploadId: string) {
    dir ??= tempDir();
    s ??= seeder(t, dir);
    return s.seed(uploadId, await makeImage('jpeg', 1600, 1200), { format: 'jpeg', width: 1600, height: 1200 });
  }

  it('finishes the job of a worker SIGKILLed mid-resize on another worker, each variant made once', async () => {
    dir = tempDir();
    await seedJob('upload-kill1');
    const a = await startWorker({ WORKER_TEST_STEP_DELAY_MS: '500' });
    const rec = await waitFor(
      async () => {
        const r = await s!.records.get('upload-kill1');
        return r && r.variants.length >= 2 ? r : undefined;
      },
      20_000,
      'two variants made by the first worker',
    );
    expect(rec.status).toBe('processing');
    const first = path.join(dir, rec.variants[0]!.key);
    const firstMtime = statSync(first).mtimeMs;
    a.child.child.kill('SIGKILL');
    expect(await a.child.exited).toBe('SIGKILL');

    await startWorker({});
    const done = await waitFor(
      async () => {
        const r = await s!.records.get('upload-kill1');
        return r?.status === 'done' ? r : undefined;
      },
      30_000,
      'the second worker to finish',
    );
    expect(done.variants.map((v) => v.name)).toEqual(
      planVariants({ format: 'jpeg', sizes: [128, 512, 1024] }).map((v) => v.name),
    );
    expect(filesOf('upload-kill1')).toEqual(expectedFiles('upload-kill1'));
    // The variant finished before the crash was not redone (its ctx.step result was reused).
    expect(statSync(first).mtimeMs).toBe(firstMtime);
    const job = await s!.producer.queue('images').getJob('image.resize#upload-kill1');
    expect(await job?.isCompleted()).toBe(true);
    expect(await s!.producer.queue('images.dead').count()).toBe(0);
  });

  it('on SIGTERM lets the active job finish within the grace period, then exits 0', async () => {
    dir = tempDir();
    await seedJob('upload-term1');
    const w = await startWorker({ WORKER_TEST_STEP_DELAY_MS: '300', WORKER_SHUTDOWN_GRACE_MS: '30000' });
    const metrics = await (await fetch(`http://127.0.0.1:${w.port}/metrics`)).text();
    expect(metrics).toContain('bullpen_queue_jobs');
    expect(metrics).toContain('process_cpu_user_seconds_total');
    await waitFor(async () => (await s!.records.get('upload-term1'))?.status === 'processing', 20_000, 'job started');
    w.child.child.kill('SIGTERM');
    expect(await w.child.exited).toBe(0);
    expect((await s!.records.get('upload-term1'))?.status).toBe('done');
    expect(w.child.output()).toContain('"msg":"worker.stopped"');
    expect(filesOf('upload-term1')).toEqual(expectedFiles('upload-term1'));
  });

  it('on SIGTERM past the grace period hands the job back, exits 0, and another worker completes it', async () => {
    dir = tempDir();
    await seedJob('upload-term2');
    const w = await startWorker({ WORKER_TEST_STEP_DELAY_MS: '1500', WORKER_SHUTDOWN_GRACE_MS: '200' });
    await waitFor(
      async () => ((await s!.records.get('upload-term2'))?.variants.length ?? 0) >= 1,
      20_000,
      'job started',
    );
    w.child.child.kill('SIGTERM');
    expect(await w.child.exited).toBe(0);
    expect(w.child.output()).toContain('"handedBack":1');
    const job = await s!.producer.queue('images').getJob('image.resize#upload-term2');
    // No attempt was spent. (The job should be 'waiting' now; packages/jobs' close() lets the closing worker's
    // in-flight fetch take it again, so it may read 'active' until its short lock expires: see the report.)
    expect(job?.attemptsMade).toBe(0);
    expect(['waiting', 'active']).toContain(await job?.getState());

    await startWorker({});
    await waitFor(
      async () => (await s!.records.get('upload-term2'))?.status === 'done',
      30_000,
      'the second worker to finish',
    );
    expect(filesOf('upload-term2')).toEqual(expectedFiles('upload-term2'));
  });
});
