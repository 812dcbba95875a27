import { writeFile } from 'node:fs/promises';
import { letterIdFor } from '@bullpen/jobs';
import { LocalStorage } from '@bullpen/storage';
import { useRedisTest, waitFor } from '@bullpen/test-utils';
import { uploadKeys } from '@bullpen/uploads';
import { afterEach, describe, expect, it } from 'vitest';
import { buildWorker, type WorkerApp } from '../src/app.ts';
import { filesUnder, makeImage, removeDir, type Seeder, seeder, tempDir, workerConfig } from './helpers.ts';

/** LocalStorage on a full disk: while `full`, writes fail as the kernel fails them (a real ENOSPC, /dev/full). */
class FullDiskStorage extends LocalStorage {
  full = true;
  writes = 0;
  override async put(key: string, data: Buffer): Promise<void> {
    if (!this.full) return super.put(key, data);
    this.writes++;
    await writeFile('/dev/full', data);
  }
}

describe('image.resize on a full disk (issue 10, defect 5)', () => {
  const t = useRedisTest();
  let dir: string;
  let worker: WorkerApp | undefined;
  let s: Seeder | undefined;

  afterEach(async () => {
    await worker?.close({ deadlineMs: 2000 });
    await s?.close();
    worker = undefined;
    s = undefined;
    removeDir(dir);
  });

  async function start(env: Record<string, string>) {
    dir = tempDir();
    s = seeder(t, dir);
    const storage = new FullDiskStorage(dir);
    worker = await buildWorker(workerConfig(t, dir, env), { storage });
    await s.seed('upload-full1', await makeImage('png', 300, 200), {
      format: 'png',
      width: 300,
      height: 200,
      sizes: [128],
    });
    return { seed: s, storage };
  }

  it('waits for space without spending an attempt, then makes the variants once the disk is freed', async () => {
    const { seed, storage } = await start({
      WORKER_STORAGE_FULL_DELAY_MS: '100',
      WORKER_STORAGE_FULL_MAX_DELAY_MS: '400',
      WORKER_STORAGE_FULL_WINDOW_MS: '60000',
    });
    // Before the fix: 5 attempts in about 15 s, then dead. Now several postponements, no attempt spent.
    await waitFor(() => storage.writes >= 4, 15_000, 'several postponed tries');
    const job = await seed.producer.queue('images').getJob('image.resize#upload-full1');
    expect(job?.attemptsMade).toBe(0);
    expect(await job?.getState()).toMatch(/delayed|active|waiting/);
    expect((await seed.records.get('upload-full1'))?.error?.code).toBe('STORAGE_FULL');

    storage.full = false;
    const rec = await waitFor(async () => {
      const r = await seed.records.get('upload-full1');
      return r?.status === 'done' ? r : undefined;
    }, 15_000);
    expect(rec.error).toBeUndefined();
    expect(filesUnder(dir)).toEqual([
      uploadKeys.original('upload-full1'),
      'uploads/upload-full1/128.png',
      'uploads/upload-full1/128.webp',
    ]);
  });

  it('gives up after the window: the attempts run and the upload is dead with STORAGE_FULL', async () => {
    const { seed } = await start({
      WORKER_STORAGE_FULL_DELAY_MS: '100',
      WORKER_STORAGE_FULL_MAX_DELAY_MS: '200',
      WORKER_STORAGE_FULL_WINDOW_MS: '500',
    });
    const rec = await waitFor(
      async () => {
        const r = await seed.records.get('upload-full1');
        return r?.status === 'dead' ? r : undefined;
      },
      40_000,
      'the upload to be dead',
    );
    expect(rec.error?.code).toBe('STORAGE_FULL');
    const letter = await seed.producer.queue('images.dead').getJob(letterIdFor('image.resize#upload-full1'));
    expect(letter?.data.code).toBe('STORAGE_FULL');
    expect(filesUnder(dir).filter((f) => f.startsWith('.tmp'))).toEqual([]);
  }, 60_000);
});
