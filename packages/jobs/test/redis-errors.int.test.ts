import { freePort, type RedisServerHandle, startRedisServer } from '@bullpen/test-utils';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRedisUnavailable } from '../src/index.ts';

/** The error a promise rejects with (fails the test when it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('isRedisUnavailable (issue 10: every Redis failure is a 503, never a 500)', () => {
  let server: RedisServerHandle;
  const clients: Redis[] = [];
  const client = (url: string, opts: RedisOptions = {}) => {
    const c = new Redis(url, { lazyConnect: true, ...opts });
    c.on('error', () => {});
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    // Its own server: it is filled to maxmemory and made a replica.
    server = await startRedisServer();
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await server?.stop();
  });

  it('recognises what Redis and ioredis really raise when Redis cannot serve', async () => {
    const admin = client(server.url);
    await admin.connect();

    // OOM under noeviction: a write refused, also from inside a Lua script.
    await admin.config('SET', 'maxmemory', '1');
    const oom = await rejection(admin.set('k', 'v'));
    expect(oom.message).toMatch(/^OOM/);
    const oomScript = await rejection(admin.eval("return redis.call('set', KEYS[1], 'v')", 1, 'k'));
    await admin.config('SET', 'maxmemory', '0');

    // A replica refuses writes.
    await admin.replicaof('127.0.0.1', String(await freePort()));
    const readonly = await rejection(admin.set('k', 'v'));
    expect(readonly.message).toMatch(/^READONLY/);
    await admin.replicaof('NO', 'ONE');

    // A command that outlives its timeout.
    const slow = client(server.url, { commandTimeout: 50 });
    await slow.connect();
    const pause = admin.client('PAUSE', 300, 'ALL');
    await pause;
    const timedOut = await rejection(slow.get('k'));
    expect(timedOut.message).toBe('Command timed out');

    // Nobody listens: retries spent, a refused connection, a closed connection, no offline queue.
    const deadUrl = `redis://127.0.0.1:${await freePort()}`;
    const retries = client(deadUrl, { lazyConnect: false, maxRetriesPerRequest: 1, retryStrategy: () => 10 });
    const maxRetries = await rejection(retries.get('k'));
    expect(maxRetries.name).toBe('MaxRetriesPerRequestError');
    const refused = await rejection(client(deadUrl, { retryStrategy: () => null }).connect());
    const closed = client(server.url);
    await closed.connect();
    closed.disconnect();
    const afterClose = await rejection(closed.get('k'));
    const noQueue = await rejection(client(deadUrl, { enableOfflineQueue: false, lazyConnect: false }).get('k'));

    for (const [label, err] of Object.entries({
      oom,
      oomScript,
      readonly,
      timedOut,
      maxRetries,
      refused,
      afterClose,
      noQueue,
    })) {
      expect(isRedisUnavailable(err), `${label}: ${err.message}`).toBe(true);
    }
    // Wrapped, as a queue or a store rethrows it.
    expect(isRedisUnavailable(new Error('queue unavailable', { cause: oom }))).toBe(true);
    expect(isRedisUnavailable(new AggregateError([new Error('x'), refused]))).toBe(true);
  });

  it('tells the other refusals Redis words the same way, and not bugs', async () => {
    for (const message of [
      'LOADING Redis is loading the dataset in memory',
      'CLUSTERDOWN The cluster is down',
      'MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no',
      'TRYAGAIN Multiple keys request during rehashing of slot',
      'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.',
      'MISCONF Redis is configured to save RDB snapshots, but it is currently not able to persist on disk.',
      'NOREPLICAS Not enough good replicas to write.',
    ]) {
      expect(isRedisUnavailable(Object.assign(new Error(message), { name: 'ReplyError' })), message).toBe(true);
    }
    const admin = client(server.url);
    await admin.connect();
    await admin.set('str', 'v');
    const wrongType = await rejection(admin.hget('str', 'f'));
    const syntax = await rejection(admin.call('SET', 'a') as Promise<unknown>);
    for (const err of [
      wrongType,
      syntax,
      new Error('BUSYGROUP Consumer Group name already exists'),
      new TypeError('cannot read properties of undefined'),
      new Error('disk on fire'),
      'OOM as a string is not an error',
      undefined,
    ]) {
      expect(isRedisUnavailable(err), String((err as Error)?.message ?? err)).toBe(false);
    }
  });
});
