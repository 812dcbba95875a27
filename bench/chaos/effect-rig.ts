import path from 'node:path';
import { closeRedis, createRedisConnection, type RedisClient } from '@bullpen/jobs';
import { type RedisServerHandle, spawnTs, startRedisServer, type TsProcess } from '@bullpen/test-utils';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { adminClient } from '../lib/redis.ts';

const WORKER_FILE = path.join(import.meta.dirname, 'effect-worker.ts');

/**
 * For a scenario that kills `effect-worker.ts` processes: its own Redis, an admin and a producer connection,
 * and `startWorker(env)`; everything is stopped after the file's tests.
 */
export function useEffectWorkerRig(prefix: string) {
  let redis: RedisServerHandle;
  let admin: Redis;
  let conn: RedisClient;
  const procs: TsProcess[] = [];
  beforeAll(async () => {
    redis = await startRedisServer();
    admin = adminClient(redis.url);
    conn = createRedisConnection(redis.url, 'producer');
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    if (conn) await closeRedis(conn);
    admin?.disconnect();
    await redis?.stop();
  });
  return {
    get redis() {
      return redis;
    },
    get admin() {
      return admin;
    },
    get conn() {
      return conn;
    },
    /** A worker process (CONCURRENCY, LOCK_MS, STALLED_MS from `env`), once it serves. */
    async startWorker(env: Record<string, string> = {}): Promise<TsProcess> {
      const p = spawnTs(WORKER_FILE, { env: { REDIS_URL: redis.url, BENCH_PREFIX: prefix, ...env } });
      procs.push(p);
      await p.waitForOutput(/worker ready/, 30_000);
      return p;
    },
  };
}
