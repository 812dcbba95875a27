import { closeRedis, createRedisConnection, type RedisClient } from '@bullpen/jobs';
import { useRedisTest, waitFor } from '@bullpen/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { IdempotencyStore } from '../src/index.ts';

const LEASE_MS = 1000;
const TTL_S = 3600;
const answer = { uploadId: 'upload-0001', jobId: 'image.resize#upload-0001' };

describe('Idempotency-Key claims are leases (issue 10, defect 2)', () => {
  const t = useRedisTest();
  const clients: RedisClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await closeRedis(c);
  });
  const store = () => {
    const c = createRedisConnection(t.url, 'producer');
    c.on('error', () => {});
    clients.push(c);
    return { client: c, store: new IdempotencyStore(c, t.prefix, TTL_S, LEASE_MS) };
  };
  const keyOf = async (c: RedisClient) => {
    const [, keys] = await c.scan('0', 'MATCH', `${t.prefix}:idem:*`, 'COUNT', 1000);
    expect(keys).toHaveLength(1);
    return keys[0]!;
  };

  it('keeps a working claim alive past its lease, and keeps only the answer for the TTL', async () => {
    const { client, store: s } = store();
    const claim = await s.claim('uploads', 'k-1', 'fp');
    if (claim.kind !== 'new') throw new Error(claim.kind);
    const key = await keyOf(client);
    expect(await client.pttl(key)).toBeLessThanOrEqual(LEASE_MS);
    // Three leases long: the renewals keep it, and a retry meanwhile is told to wait.
    await new Promise((r) => setTimeout(r, 3 * LEASE_MS));
    expect(await client.pttl(key)).toBeGreaterThan(0);
    expect((await s.claim('uploads', 'k-1', 'fp')).kind).toBe('in-progress');
    expect((await s.claim('uploads', 'k-1', 'other')).kind).toBe('conflict');
    expect(await claim.lease.confirm()).toBe(true);

    await claim.lease.complete(answer);
    expect(await client.ttl(key)).toBeGreaterThan(TTL_S - 5);
    expect(await s.claim('uploads', 'k-1', 'fp')).toEqual({ kind: 'replay', answer });
    expect((await s.claim('uploads', 'k-1', 'other')).kind).toBe('conflict');
  });

  it('frees the key of a request that stopped renewing (a dead process) within its lease', async () => {
    const owner = store();
    const claim = await owner.store.claim('uploads', 'k-2', 'fp');
    expect(claim.kind).toBe('new');
    // The owner's connection dies with its process: no renewal reaches Redis any more.
    owner.client.disconnect();
    const other = store();
    const started = Date.now();
    const retry = await waitFor(
      async () => {
        const c = await other.store.claim('uploads', 'k-2', 'fp');
        return c.kind === 'new' ? c : undefined;
      },
      5 * LEASE_MS,
      'the dead claim to expire',
    );
    expect(Date.now() - started).toBeLessThan(LEASE_MS + 500);
    await retry.lease.complete(answer);
    expect(await other.store.claim('uploads', 'k-2', 'fp')).toEqual({ kind: 'replay', answer });
  });

  it('never lets a lost claim store its answer over, or release, the claim of the request that took over', async () => {
    const a = store();
    const first = await a.store.claim('uploads', 'k-3', 'fp');
    if (first.kind !== 'new') throw new Error(first.kind);
    const key = await keyOf(a.client);
    // The first request's lease runs out unrenewed (its process stalled), and a retry takes the key.
    await a.client.del(key);
    const b = store();
    const second = await b.store.claim('uploads', 'k-3', 'fp');
    if (second.kind !== 'new') throw new Error(second.kind);

    expect(await first.lease.confirm()).toBe(false);
    await first.lease.release();
    expect(await a.client.exists(key)).toBe(1);
    await first.lease.complete({ uploadId: 'upload-lost', jobId: 'x' });
    expect((await b.store.claim('uploads', 'k-3', 'fp')).kind).toBe('in-progress');

    await second.lease.complete(answer);
    expect(await a.store.claim('uploads', 'k-3', 'fp')).toEqual({ kind: 'replay', answer });
  });

  it('releases a failed request’s claim at once, so its retry does the work', async () => {
    const { store: s } = store();
    const claim = await s.claim('uploads', 'k-4', 'fp');
    if (claim.kind !== 'new') throw new Error(claim.kind);
    await claim.lease.release();
    expect((await s.claim('uploads', 'k-4', 'fp')).kind).toBe('new');
  });
});
