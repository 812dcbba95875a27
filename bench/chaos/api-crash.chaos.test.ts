import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { closeRedis, createRedisConnection } from '@bullpen/jobs';
import { freePort, type RedisServerHandle, startRedisServer, type TsProcess } from '@bullpen/test-utils';
import { UploadRecords } from '@bullpen/uploads';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisGate, redisGate } from '../../apps/api/test/redis-gate.ts';
import { spawnApi, spawnWorkerApp, waitHttp } from '../lib/apps.ts';
import { noiseJpeg } from '../lib/images.ts';
import { fileBody } from '../lib/multipart.ts';
import { sleep } from '../lib/proc.ts';
import { adminClient } from '../lib/redis.ts';
import { recordFigures } from './report.ts';

const prefix = 'chaos-apicrash';
const LEASE_MS = 2000;
const DEADLINE_MS = 4000;
const TEMP_MAX_AGE_MS = 8000;
/**
 * Where each round's SIGKILL lands: halfway through the body, or after the API claimed the Idempotency-Key and
 * before it answered (held there by a gate in front of Redis: the door check itself takes milliseconds).
 */
const ROUNDS = ['mid-body', 'after-claim', 'mid-body', 'after-claim'] as const;

interface Round {
  where: (typeof ROUNDS)[number];
  tmpFilesAfterKill: number;
  claimTtlMsAfterKill: number | null;
  retryStatuses: number[];
  killToAcceptedMs: number;
  tmpEmptyMsAfterRestart: number;
}

const tmpFiles = (dir: string) => {
  try {
    return readdirSync(path.join(dir, '.tmp')).length;
  } catch {
    return 0;
  }
};

describe('the API SIGKILLed mid-upload and restarted (issue 10)', () => {
  let redis: RedisServerHandle;
  let admin: Redis;
  let gate: RedisGate;
  let dir: string;
  const procs: TsProcess[] = [];
  beforeAll(async () => {
    redis = await startRedisServer();
    admin = adminClient(redis.url);
    gate = await redisGate(redis.port);
    dir = mkdtempSync(path.join(tmpdir(), 'bullpen-apicrash-'));
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    admin?.disconnect();
    await gate?.close();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const env = () => ({
    REDIS_URL: redis.url,
    BULLPEN_PREFIX: prefix,
    STORAGE_DIR: dir,
    IDEMPOTENCY_LEASE_MS: String(LEASE_MS),
    UPLOAD_DEADLINE_MS: String(DEADLINE_MS),
    UPLOAD_TEMP_MAX_AGE_MS: String(TEMP_MAX_AGE_MS),
    API_MAX_EVENT_LOOP_DELAY_MS: '0',
  });

  async function startApi(): Promise<{ api: TsProcess; base: string; port: number }> {
    const port = await freePort();
    const api = spawnApi({ ...env(), REDIS_URL: gate.url, API_PORT: String(port) });
    procs.push(api);
    const base = `http://127.0.0.1:${port}`;
    await waitHttp(`${base}/readyz`, api);
    return { api, base, port };
  }

  const post = (base: string, body: Buffer, contentType: string, key: string) =>
    fetch(`${base}/uploads`, {
      method: 'POST',
      body: new Uint8Array(body),
      headers: { 'content-type': contentType, 'idempotency-key': key },
    });

  it('frees the Idempotency-Key within its lease, takes the retry, and empties .tmp after every kill', async () => {
    const worker = spawnWorkerApp({ ...env(), LOG_LEVEL: 'warn', WORKER_CONCURRENCY: '1' });
    procs.push(worker);
    const jpeg = await noiseJpeg(780, 585, 85);

    let { api, base, port } = await startApi();
    const rounds: Round[] = [];
    const accepted = new Map<string, string>();
    for (const [i, where] of ROUNDS.entries()) {
      const key = `crash-${i}`;
      const { body, contentType } = fileBody(jpeg, 'photo.jpg');
      let claimTtlMsAfterKill: number | null = null;
      if (where === 'mid-body') {
        // Half the body, then the API dies with its temporary file open.
        const socket = net.connect(port, '127.0.0.1');
        socket.on('error', () => {});
        socket.write(
          `POST /uploads HTTP/1.1\r\nHost: x\r\nContent-Type: ${contentType}\r\nIdempotency-Key: ${key}\r\n` +
            `Content-Length: ${body.length}\r\n\r\n`,
        );
        socket.write(body.subarray(0, body.length >> 1));
        const until = Date.now() + 10_000;
        while (tmpFiles(dir) === 0 && Date.now() < until) await sleep(10);
        await api.kill();
        socket.destroy();
      } else {
        const before = new Set(await admin.keys(`${prefix}:idem:*`));
        gate.holdAfter(':idem:');
        const killed = post(base, body, contentType, key).catch(() => undefined);
        // The key is claimed, and the API held at its next Redis command: kill it then.
        let claim: string | undefined;
        const until = Date.now() + 20_000;
        while (!(claim && gate.holding) && Date.now() < until) {
          claim = (await admin.keys(`${prefix}:idem:*`)).find((k) => !before.has(k));
          if (!(claim && gate.holding)) await sleep(10);
        }
        await api.kill();
        await killed;
        claimTtlMsAfterKill = claim ? await admin.pttl(claim) : null;
      }
      const killedAt = Date.now();
      const tmpFilesAfterKill = tmpFiles(dir);

      ({ api, base, port } = await startApi());
      const restartedAt = Date.now();
      const retryStatuses: number[] = [];
      let uploadId: string | undefined;
      while (!uploadId && Date.now() - killedAt < 30_000) {
        const res = await post(base, body, contentType, key);
        retryStatuses.push(res.status);
        if (res.status === 202) uploadId = ((await res.json()) as { uploadId: string }).uploadId;
        else {
          await res.arrayBuffer();
          await sleep(Number(res.headers.get('retry-after') ?? 1) * 1000);
        }
      }
      const killToAcceptedMs = Date.now() - killedAt;
      if (uploadId) accepted.set(key, uploadId);
      const until = Date.now() + 30_000;
      while (tmpFiles(dir) > 0 && Date.now() < until) await sleep(100);
      rounds.push({
        where,
        tmpFilesAfterKill,
        claimTtlMsAfterKill,
        retryStatuses,
        killToAcceptedMs,
        tmpEmptyMsAfterRestart: Date.now() - restartedAt,
      });
    }

    // Every key answers its one upload again, and each upload is made once.
    const replays: string[] = [];
    for (const i of ROUNDS.keys()) {
      const { body, contentType } = fileBody(jpeg, 'photo.jpg');
      const res = await post(base, body, contentType, `crash-${i}`);
      replays.push(
        res.headers.get('idempotent-replayed') === 'true' ? ((await res.json()) as { uploadId: string }).uploadId : '',
      );
    }
    const conn = createRedisConnection(redis.url, 'admin');
    const records = new UploadRecords(conn, prefix);
    const ids = ROUNDS.map((_, i) => accepted.get(`crash-${i}`));
    const until = Date.now() + 90_000;
    let statuses: (string | undefined)[] = [];
    while (Date.now() < until) {
      statuses = await Promise.all(ids.map(async (id) => (id ? (await records.get(id))?.status : undefined)));
      if (statuses.every((s) => s === 'done' || s === 'dead')) break;
      await sleep(250);
    }
    const uploadRecords = (await admin.keys(`${prefix}:upload:*`)).length;
    await closeRedis(conn);

    recordFigures('api-crash', {
      leaseMs: LEASE_MS,
      tempMaxAgeMs: TEMP_MAX_AGE_MS,
      kills: ROUNDS.length,
      rounds,
      uploadRecords,
      statuses,
      replayedSameUpload: replays.filter((r, i) => r && r === ids[i]).length,
      tmpFilesAtEnd: tmpFiles(dir),
    });
    for (const r of rounds) {
      expect(r.retryStatuses.at(-1), JSON.stringify(r)).toBe(202);
      expect(r.retryStatuses.every((s) => s === 202 || s === 409)).toBe(true);
      // Before the fix: 86,398 s, and 409 for a day.
      if (r.where === 'after-claim') expect(r.claimTtlMsAfterKill).toBeLessThanOrEqual(LEASE_MS);
      expect(r.killToAcceptedMs).toBeLessThan(LEASE_MS + 15_000);
    }
    expect(rounds.filter((r) => r.where === 'mid-body').every((r) => r.tmpFilesAfterKill > 0)).toBe(true);
    expect(tmpFiles(dir)).toBe(0);
    expect(replays).toEqual(ids);
    expect(uploadRecords).toBe(ROUNDS.length);
    expect(statuses).toEqual(ROUNDS.map(() => 'done'));
  });
});
