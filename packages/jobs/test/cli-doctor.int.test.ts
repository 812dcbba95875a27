import {
  type RedisClusterHandle,
  type RedisServerHandle,
  startRedisCluster,
  startRedisServer,
} from '@bullpen/test-utils';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DoctorReport } from '../src/doctor.ts';
import { runBin } from './fixtures/cli-run.ts';

/** Each bin run starts Node and tsx (1-3 s on a busy 2-core machine). */
const BIN_TIMEOUT = 120_000;

const finding = (r: DoctorReport, check: string) => r.findings.filter((f) => f.check === check);

describe('bullpen cli: doctor on a Redis of its own', () => {
  let server: RedisServerHandle;
  let redis: Redis;

  beforeAll(async () => {
    server = await startRedisServer({ args: ['--appendonly', 'yes', '--appendfsync', 'everysec'] });
    redis = new Redis(server.url);
  });
  afterEach(async () => {
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    await redis.config('SET', 'save', '');
    await redis.config('SET', 'appendonly', 'yes');
    await redis.config('SET', 'appendfsync', 'everysec');
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  const doctor = (...args: string[]) => runBin(['doctor', '--redis-url', server.url, ...args]);

  it(
    'passes a Redis that keeps its jobs (noeviction, AOF everysec): exit 0',
    async () => {
      const human = await doctor();
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(/^ok +version +Redis \d+\.\d+/m);
      expect(human.stdout).toMatch(/^ok +maxmemory-policy +maxmemory-policy noeviction/m);
      expect(human.stdout).toMatch(/^ok +persistence +AOF on, appendfsync everysec/m);
      const json = await doctor('--json');
      expect(json.code).toBe(0);
      expect(json.json<DoctorReport>()).toMatchObject({
        ok: true,
        mode: 'standalone',
        prefix: 'bullpen',
        nodes: [
          {
            node: `127.0.0.1:${server.port}`,
            aofEnabled: true,
            appendfsync: 'everysec',
            maxmemoryPolicy: 'noeviction',
          },
        ],
      });
    },
    BIN_TIMEOUT,
  );

  it(
    'warns, with the fix, of appendfsync no and of RDB snapshots only: exit 0',
    async () => {
      await redis.config('SET', 'appendfsync', 'no');
      const noFsync = (await doctor('--json')).json<DoctorReport>();
      expect(finding(noFsync, 'persistence')).toEqual([
        expect.objectContaining({ level: 'warn', fix: expect.stringContaining('CONFIG SET appendfsync everysec') }),
      ]);
      await redis.config('SET', 'appendonly', 'no');
      await redis.config('SET', 'save', '3600 1 300 100');
      const rdb = await doctor();
      expect(rdb.code).toBe(0);
      expect(rdb.stdout).toMatch(/^warn +persistence +RDB snapshots only \(save 3600 1 300 100\)/m);
      expect(rdb.stdout).toContain('fix: redis-cli CONFIG SET appendonly yes');
    },
    BIN_TIMEOUT,
  );

  it(
    'fails, with the fix, on a Redis that would lose jobs (eviction, no persistence): exit 1',
    async () => {
      await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
      const evicting = await doctor();
      expect(evicting.code).toBe(1);
      expect(evicting.stdout).toMatch(/^ERROR +maxmemory-policy +maxmemory-policy is "allkeys-lru"/m);
      expect(evicting.stdout).toContain('fix: redis-cli CONFIG SET maxmemory-policy noeviction');
      await redis.config('SET', 'maxmemory-policy', 'noeviction');
      await redis.config('SET', 'appendonly', 'no');
      const volatile = await doctor('--json');
      expect(volatile.code).toBe(1);
      expect(finding(volatile.json<DoctorReport>(), 'persistence')).toEqual([
        expect.objectContaining({ level: 'error', message: expect.stringMatching(/^no persistence/) }),
      ]);
    },
    BIN_TIMEOUT,
  );
});

describe('bullpen cli: doctor on a real Redis Cluster', () => {
  let cluster: RedisClusterHandle;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    for (const port of cluster.ports) {
      const node = new Redis(port, '127.0.0.1');
      await node.config('SET', 'appendonly', 'yes');
      node.disconnect();
    }
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it(
    'names the one slot of a hash-tag prefix and the master serving it, and fails a prefix without a tag',
    async () => {
      const nodes = cluster.nodes.join(',');
      const tagged = await runBin([
        'doctor',
        '--cluster-nodes',
        nodes,
        '--redis-url',
        cluster.url,
        '--prefix',
        '{bp}',
        '--json',
      ]);
      expect(tagged.code).toBe(0);
      const report = tagged.json<DoctorReport>();
      expect(report.mode).toBe('cluster');
      expect(report.nodes).toHaveLength(3);
      const probe = new Redis(cluster.ports[0]!, '127.0.0.1');
      const slot = Number(await probe.cluster('KEYSLOT', '{bp}:images:wait'));
      probe.disconnect();
      expect(report.slot?.slot).toBe(slot);
      expect(cluster.nodes).toContain(report.slot?.node);
      expect(finding(report, 'cluster-slot')).toEqual([
        expect.objectContaining({
          level: 'ok',
          node: report.slot?.node,
          message: expect.stringContaining(`slot ${slot}`),
        }),
      ]);

      const plain = await runBin(['doctor', '--redis-url', cluster.url, '--prefix', 'bp'], {
        env: { REDIS_CLUSTER_NODES: nodes },
      });
      expect(plain.code).toBe(1);
      expect(plain.stdout).toMatch(/^ERROR +cluster-slot +prefix "bp" has no hash tag/m);
      expect(plain.stdout).toContain("fix: use a prefix with a hash tag, e.g. --prefix '{bp}'");
    },
    BIN_TIMEOUT,
  );
});
