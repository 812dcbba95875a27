import type { Redis } from 'ioredis';
import type { RedisClient } from './connection.ts';
import { BullpenError, JobErrorCode } from './errors.ts';

/** Thrown when Redis cannot safely hold Bullpen's jobs. */
export class RedisNotReadyError extends BullpenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(JobErrorCode.REDIS_NOT_READY, message, options);
  }
}

const MIN_VERSION = [6, 2, 0];

function parseInfo(info: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of info.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

function versionAtLeast(v: string, min: number[]): boolean {
  const parts = v.split('.').map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < min.length; i++) {
    const a = parts[i] ?? 0;
    const b = min[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

/**
 * Checks that Redis is reachable, at least 6.2, and never evicts keys (`maxmemory-policy noeviction`):
 * BullMQ silently loses jobs when Redis evicts. Throws `RedisNotReadyError` saying how to fix it.
 */
export async function checkRedis(client: RedisClient): Promise<{ version: string; policy: string }> {
  let info: Record<string, string>;
  // What the connection itself saw (ECONNREFUSED, a bad password) says more than the ping's retries-spent error.
  let lastError: Error | undefined;
  const onError = (err: Error) => {
    lastError = err;
  };
  client.on('error', onError);
  try {
    // A cluster client knows its masters only once connected: the ping waits for that.
    await client.ping();
    const nodes = 'nodes' in client && typeof client.nodes === 'function' ? client.nodes('master') : [client];
    if (nodes.length === 0) throw new Error('the cluster reports no masters');
    const texts = await Promise.all(nodes.map((n) => (n as Redis).info()));
    info = parseInfo(texts.join('\n'));
    // Every master must pass; report the first that does not.
    for (const text of texts) {
      const one = parseInfo(text);
      if (one.maxmemory_policy && one.maxmemory_policy !== 'noeviction') {
        info = one;
        break;
      }
    }
  } catch (err) {
    throw new RedisNotReadyError(`Redis is not reachable (${(lastError ?? (err as Error)).message})`, { cause: err });
  } finally {
    client.off('error', onError);
  }
  const version = info.redis_version ?? '0';
  if (!versionAtLeast(version, MIN_VERSION)) {
    throw new RedisNotReadyError(`Redis ${version} is too old: Bullpen needs 6.2 or newer.`);
  }
  const policy = info.maxmemory_policy ?? 'unknown';
  if (policy !== 'noeviction') {
    throw new RedisNotReadyError(
      `Redis maxmemory-policy is "${policy}": under memory pressure it would evict queued jobs. ` +
        'Set it to noeviction (redis-cli CONFIG SET maxmemory-policy noeviction, and ' +
        '"maxmemory-policy noeviction" in redis.conf), or set REDIS_CHECK=false to start anyway.',
    );
  }
  return { version, policy };
}
