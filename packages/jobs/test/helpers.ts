import { randomBytes } from 'node:crypto';
import { type RedisClusterHandle, startRedisCluster, useRedisTest } from '@bullpen/test-utils';
import { afterAll, afterEach, beforeAll } from 'vitest';
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

/**
 * Per describe block: a real 3-master Redis Cluster, a prefix with a hash tag (as REDIS_CLUSTER_NODES requires:
 * every key of the deployment in one slot), and connections opened through `connect`, all closed afterwards.
 */
export function useRedisCluster() {
  let cluster: RedisClusterHandle;
  const prefix = `{bp-${randomBytes(4).toString('hex')}}`;
  const conns: RedisClient[] = [];
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(async () => {
    for (const c of conns.splice(0)) await closeRedis(c);
    await cluster?.stop();
  });
  return {
    prefix,
    connect(role: 'worker' | 'producer' | 'admin'): RedisClient {
      const c = createRedisConnection({ url: cluster.url, clusterNodes: cluster.nodes }, role);
      conns.push(c);
      return c;
    },
  };
}
