import { closeRedis, createJobAdmin, createRedisConnection } from '@bullpen/jobs';
import { freePort, useRedisTest, waitFor } from '@bullpen/test-utils';
import { registry } from '@bullpen/uploads';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Child,
  makeImage,
  removeDir,
  type Seeder,
  seeder,
  spawnWorker,
  stopChild,
  tempDir,
  workerEnv,
} from './helpers.ts';

describe('an operator cancels a running resize', () => {
  const t = useRedisTest();
  let dir: string | undefined;
  let s: Seeder | undefined;
  let child: Child | undefined;

  afterEach(async () => {
    await stopChild(child);
    await s?.close();
    removeDir(dir);
    child = s = dir = undefined;
  });

  it('the job stops on the worker, is neither retried nor dead-lettered, and the upload says cancelled', async () => {
    dir = tempDir();
    s = seeder(t, dir);
    const port = await freePort();
    child = spawnWorker(
      workerEnv(t, dir, { WORKER_HTTP_PORT: String(port), WORKER_TEST_STEP_DELAY_MS: '3000', LOG_LEVEL: 'info' }),
    );
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok, 30_000);
    const jobId = await s.seed('upload-cancel1', await makeImage('jpeg', 1600, 1200), {
      format: 'jpeg',
      width: 1600,
      height: 1200,
    });
    await waitFor(async () => ((await s!.records.get('upload-cancel1'))?.variants.length ?? 0) >= 1, 60_000);
    const conn = createRedisConnection(t.url, 'admin');
    const admin = createJobAdmin(registry, { connection: conn, prefix: t.prefix });
    try {
      const report = await admin.cancel([jobId], { actor: 'ada', waitMs: 20_000 });
      expect(report.outcomes[0]).toMatchObject({ status: 'signalled', state: 'cancelled' });
      // Its onCancel hook marks the upload; what was made so far stays (an operator's cancel deletes nothing).
      const rec = await waitFor(async () => {
        const r = await s!.records.get('upload-cancel1');
        return r?.status === 'cancelled' ? r : undefined;
      }, 20_000);
      expect(rec.variants.length).toBeGreaterThanOrEqual(1);
      const job = await admin.queues.get('images').getJob(jobId);
      expect(job!.attemptsMade).toBe(1);
      expect(await admin.queues.dead('images').count()).toBe(0);
    } finally {
      await admin.close();
      await closeRedis(conn);
    }
  }, 120_000);
});
