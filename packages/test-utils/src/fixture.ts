import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, expect, inject } from 'vitest';
import './provided.ts';

/** The Redis URL of this test run (see global-setup.ts). */
export function testRedisUrl(): string {
  return inject('redisUrl');
}

/** A key prefix no other test uses. */
export function uniquePrefix(label = 't'): string {
  return `${label}-${randomBytes(5).toString('hex')}`;
}

function redisPort(): number {
  return Number(new URL(testRedisUrl()).port || 6379);
}

/** Open TCP sockets of this process to the test Redis. */
export function openRedisSockets(): net.Socket[] {
  const port = redisPort();
  // biome-ignore lint/suspicious/noExplicitAny: Node keeps this list private.
  const handles = (process as any)._getActiveHandles() as unknown[];
  return handles.filter((h): h is net.Socket => h instanceof net.Socket && !h.destroyed && h.remotePort === port);
}

/** Deletes every key under `prefix` (SCAN, never KEYS). */
export async function deleteKeys(url: string, prefix: string): Promise<number> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await r.connect();
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
  return deleted;
}

export interface RedisTestContext {
  url: string;
  prefix: string;
}

/**
 * Per test: a fresh key prefix, its keys deleted afterwards, and a guard that fails the test when
 * it leaves a Worker, Queue or any other connection to the test Redis open.
 */
export function useRedisTest(): RedisTestContext {
  const ctx: RedisTestContext = { url: '', prefix: '' };
  beforeEach(() => {
    ctx.url = testRedisUrl();
    ctx.prefix = uniquePrefix();
  });
  afterEach(async () => {
    // Sockets close asynchronously after quit/disconnect; give them a moment.
    let open = openRedisSockets();
    for (let i = 0; i < 40 && open.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
      open = openRedisSockets();
    }
    for (const s of open) s.destroy();
    await deleteKeys(ctx.url, ctx.prefix);
    expect(open.length, 'connections to Redis left open by the test').toBe(0);
  });
  return ctx;
}

/** Polls `fn` until it returns a truthy value, or fails after `timeoutMs`. */
export async function waitFor<T>(
  fn: () => Promise<T> | T,
  timeoutMs = 10_000,
  label = 'condition',
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${label}${last ? `: ${String(last)}` : ''}`);
}
