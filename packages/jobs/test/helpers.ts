import { useRedisTest } from '@bullpen/test-utils';
import { afterEach } from 'vitest';
import { closeRedis, createRedisConnection, type RedisClient } from '../src/index.ts';

/**
 * Per test: a fresh prefix (keys deleted afterwards), connections opened through `connect` and closed
 * after the test, then the open-connection guard of `useRedisTest`.
 */
export function useJobsTest() {
  const closers: (() => Promise<unknown>)[] = [];
  // Registered before useRedisTest's afterEach, so it runs after this one (hooks run in reverse order).
  const redis = useRedisTest();
  afterEach(async () => {
    while (closers.length) await closers.pop()!().catch(() => {});
  });
  return {
    get prefix() {
      return redis.prefix;
    },
    get url() {
      return redis.url;
    },
    connect(role: 'worker' | 'producer' | 'admin' = 'worker'): RedisClient {
      const c = createRedisConnection(redis.url, role);
      closers.unshift(() => closeRedis(c));
      return c;
    },
    /** Runs `fn` after the test, before connections close (for workers, producers...). */
    defer(fn: () => Promise<unknown>) {
      closers.push(fn);
    },
  };
}
