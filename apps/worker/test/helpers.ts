import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parseConfig, type WorkerConfig } from '@bullpen/config';
import { closeRedis, createProducer, createRedisConnection, type Producer, type RedisClient } from '@bullpen/jobs';
import { LocalStorage } from '@bullpen/storage';
import {
  makeImage as makeTestImage,
  type RedisTestContext,
  spawnTs,
  type TestImageFormat,
  type TsProcess,
} from '@bullpen/test-utils';
import { type AppRegistry, acceptUpload, registry, UploadRecords } from '@bullpen/uploads';

export const ROOT = path.resolve(import.meta.dirname, '../../..');

export function tempDir(label = 'worker'): string {
  return mkdtempSync(path.join(tmpdir(), `bullpen-${label}-`));
}

export function removeDir(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

export function workerEnv(
  t: RedisTestContext,
  storageDir: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    REDIS_URL: t.url,
    BULLPEN_PREFIX: t.prefix,
    STORAGE_DIR: storageDir,
    WORKER_HTTP_PORT: '0',
    WORKER_CONCURRENCY: '2',
    CALLBACK_ALLOW_PRIVATE: 'true',
    WEBHOOK_SECRET: 'test-secret-0123456789abcdef',
    ...extra,
  };
}

export const workerConfig = (t: RedisTestContext, dir: string, extra: Record<string, string> = {}): WorkerConfig =>
  parseConfig('worker', workerEnv(t, dir, extra));

/** Every file under `dir`, relative, sorted (temporary files included). */
export function filesUnder(dir: string): string[] {
  try {
    return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
      .filter((e) => e.isFile())
      .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
      .sort();
  } catch {
    return [];
  }
}

/** A real image with noise (realistic sizes), optionally with an EXIF orientation. */
export function makeImage(
  format: TestImageFormat,
  width: number,
  height: number,
  opts: { orientation?: number } = {},
): Promise<Buffer> {
  return makeTestImage(format, width, height, { noise: true, ...opts });
}

/** What the API does for an accepted upload: the original in storage, a queued record, an enqueued job. */
export interface Seeder {
  producer: Producer<AppRegistry>;
  records: UploadRecords;
  storage: LocalStorage;
  seed(
    uploadId: string,
    image: Buffer,
    p: {
      format: 'jpeg' | 'png' | 'webp' | 'gif' | 'avif' | 'tiff';
      width: number;
      height: number;
      sizes?: (128 | 512 | 1024)[];
      callbackUrl?: string;
    },
  ): Promise<string>;
  close(): Promise<void>;
}

export function seeder(t: RedisTestContext, dir: string): Seeder {
  const conn: RedisClient = createRedisConnection(t.url, 'producer');
  const producer = createProducer(registry, { connection: conn, prefix: t.prefix });
  const records = new UploadRecords(conn, t.prefix);
  const storage = new LocalStorage(dir);
  return {
    producer,
    records,
    storage,
    async seed(uploadId, image, p) {
      const accepted = await acceptUpload(
        { producer, records, storage },
        {
          uploadId,
          staged: await storage.stage(Readable.from([image])),
          format: p.format,
          sizes: p.sizes ?? [128, 512, 1024],
          ...(p.callbackUrl ? { callbackUrl: p.callbackUrl } : {}),
          requestId: `req-${uploadId}`,
          probe: async () => ({ width: p.width, height: p.height }),
        },
      );
      return accepted.jobId;
    },
    async close() {
      await producer.close();
      await closeRedis(conn);
    },
  };
}

/** A real worker process: `child`, `output()`, `exited`, `kill()` (see spawnTs). */
export type Child = TsProcess;

/** Runs the worker's `src/main.ts` as one real child process (killing its pid kills the app). */
export function spawnWorker(env: Record<string, string>): Child {
  return spawnTs(path.join(ROOT, 'apps/worker/src/main.ts'), {
    cwd: path.join(ROOT, 'apps/worker'),
    env: { LOG_FORMAT: 'json', ...env },
  });
}

export async function stopChild(child: Child | undefined): Promise<void> {
  await child?.kill();
}
