import { testRedisUrl } from '@bullpen/test-utils';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { checkRedis, RedisNotReadyError } from '../src/index.ts';

describe('checkRedis', () => {
  let client: Redis | undefined;
  afterEach(async () => {
    if (client) {
      await client.config('SET', 'maxmemory-policy', 'noeviction');
      client.disconnect();
      client = undefined;
    }
  });

  it('accepts a Redis that never evicts', async () => {
    client = new Redis(testRedisUrl());
    const r = await checkRedis(client);
    expect(r.policy).toBe('noeviction');
  });

  it('refuses a Redis that may evict, saying how to fix it', async () => {
    client = new Redis(testRedisUrl());
    await client.config('SET', 'maxmemory-policy', 'allkeys-lru');
    await expect(checkRedis(client)).rejects.toThrow(/CONFIG SET maxmemory-policy noeviction/);
    await expect(checkRedis(client)).rejects.toBeInstanceOf(RedisNotReadyError);
  });

  it('refuses an unreachable Redis', async () => {
    const dead = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    dead.on('error', () => {});
    await expect(checkRedis(dead)).rejects.toThrow(/not reachable/);
    dead.disconnect();
  });
});
