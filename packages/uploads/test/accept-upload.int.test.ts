import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { closeRedis, createProducer, createRedisConnection, type RedisClient } from '@bullpen/jobs';
import { LocalStorage } from '@bullpen/storage';
import { useRedisTest, waitFor } from '@bullpen/test-utils';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AcceptUploadDeps,
  acceptUpload,
  type Claim,
  IdempotencyStore,
  registry,
  resizeJobId,
  type UploadRecord,
  UploadRecords,
  uploadKeys,
} from '../src/index.ts';

const probe = async () => ({ width: 64, height: 48 });

describe('acceptUpload: the record and the job in one round trip (issue 12)', () => {
  const t = useRedisTest();
  let dir: string;
  let conn: RedisClient;
  let deps: AcceptUploadDeps & { storage: LocalStorage };
  const clients: Redis[] = [];
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'bullpen-accept-'));
    conn = createRedisConnection(t.url, 'producer');
    const producer = createProducer(registry, { connection: conn, prefix: t.prefix });
    deps = { storage: new LocalStorage(dir), records: new UploadRecords(conn, t.prefix), producer };
  });
  afterEach(async () => {
    await deps.producer.close();
    await closeRedis(conn);
    for (const c of clients.splice(0)) c.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });
  const stage = () => deps.storage.stage(Readable.from([Buffer.from('not checked here')]));
  const files = () => readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  const jobs = async () => Object.values(await deps.producer.queue('images').getJobCounts()).reduce((a, b) => a + b);

  it('stores the original flat under originals/ and writes the record before the job, on one connection', async () => {
    const admin = createRedisConnection(t.url, 'admin') as Redis;
    const monitor = await admin.monitor();
    clients.push(admin, monitor);
    // The commands sent on this upload's behalf (not those its scripts run, nor BullMQ's queue set-up, which
    // writes the queue's meta hash), in the order Redis runs them.
    const seen: string[] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      const ours = args.some((a) => a.startsWith(`${t.prefix}:`) && !a.endsWith(':meta'));
      if (source !== 'lua' && ours) seen.push(args[0]!.toLowerCase());
    });
    const { uploadId, jobId } = await acceptUpload(deps, { staged: await stage(), format: 'png', sizes: [128], probe });
    // The record's HSET, then BullMQ's add script: no EXISTS (the upload id is new), nothing in between.
    await waitFor(() => seen.length >= 2);
    expect(seen).toEqual(['hset', expect.stringMatching(/^evalsha$|^eval$/)]);
    expect(jobId).toBe(resizeJobId(uploadId));
    expect(await deps.storage.list('originals')).toEqual([uploadKeys.original(uploadId)]);
    expect((await deps.records.get(uploadId))?.originalKey).toBe(uploadKeys.original(uploadId));
  });

  it('removes the job, the original and the record when the record write fails after the enqueue was sent', async () => {
    class RefusingRecords extends UploadRecords {
      override async create(_record: UploadRecord): Promise<void> {
        throw new Error('HSET refused');
      }
    }
    deps.records = new RefusingRecords(conn, t.prefix);
    await expect(acceptUpload(deps, { staged: await stage(), format: 'png', sizes: [128], probe })).rejects.toThrow(
      'HSET refused',
    );
    expect(await jobs()).toBe(0);
    expect(files()).toEqual([]);
  });

  it('removes the job too when the Idempotency-Key answer cannot be stored', async () => {
    class ForgetfulStore extends IdempotencyStore {
      override async claim(scope: string, key: string, fingerprint: string): Promise<Claim> {
        const claim = await super.claim(scope, key, fingerprint);
        if (claim.kind === 'new') {
          claim.lease.complete = async () => {
            throw new Error('SET refused');
          };
        }
        return claim;
      }
    }
    deps.idempotency = new ForgetfulStore(conn, t.prefix, 60, 1000);
    await expect(
      acceptUpload(deps, { staged: await stage(), format: 'png', sizes: [128], probe, idempotencyKey: 'k-1' }),
    ).rejects.toThrow('SET refused');
    expect(await jobs()).toBe(0);
    expect(files()).toEqual([]);
    const [, left] = await conn.scan('0', 'MATCH', `${t.prefix}:upload:*`, 'COUNT', 1000);
    expect(left).toEqual([]);
  });
});
