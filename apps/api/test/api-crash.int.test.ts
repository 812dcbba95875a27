import { utimesSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { closeRedis, createRedisConnection, type RedisClient } from '@bullpen/jobs';
import { freePort, useRedisTest, waitFor } from '@bullpen/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Child,
  filesUnder,
  makeImage,
  multipart,
  removeDir,
  scanKeys,
  spawnApp,
  stopChild,
  tempDir,
  waitForHttp,
} from './helpers.ts';
import { type RedisGate, redisGate } from './redis-gate.ts';

const LEASE_MS = 2000;

describe('the API SIGKILLed mid-request (issue 10)', () => {
  const t = useRedisTest();
  let api: Child | undefined;
  let dir: string | undefined;
  let admin: RedisClient | undefined;
  let gate: RedisGate | undefined;

  afterEach(async () => {
    await stopChild(api);
    if (admin) await closeRedis(admin);
    await gate?.close();
    removeDir(dir);
    api = undefined;
    admin = undefined;
    gate = undefined;
    dir = undefined;
  });

  async function startApi(port: number, extra: Record<string, string> = {}) {
    api = spawnApp('api', {
      REDIS_URL: t.url,
      BULLPEN_PREFIX: t.prefix,
      STORAGE_DIR: dir!,
      API_PORT: String(port),
      IDEMPOTENCY_LEASE_MS: String(LEASE_MS),
      API_MAX_EVENT_LOOP_DELAY_MS: '0',
      LOG_LEVEL: 'warn',
      ...extra,
    });
    await waitForHttp(`http://127.0.0.1:${port}/readyz`);
    return `http://127.0.0.1:${port}`;
  }

  const post = (base: string, image: Buffer, key: string) => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(image)], { type: 'image/png' }), 'big.png');
    return fetch(`${base}/uploads`, { method: 'POST', body: form, headers: { 'idempotency-key': key } });
  };

  it('leaves the Idempotency-Key of a request killed between its claim and its answer free within its lease; the retry gets 202', async () => {
    dir = tempDir();
    admin = createRedisConnection(t.url, 'admin');
    const image = await makeImage('png', 640, 480, { noise: true });
    // The door check takes milliseconds: the API reaches Redis through a gate that holds it right after its claim.
    gate = await redisGate(Number(new URL(t.url).port));
    let base = await startApi(await freePort(), { REDIS_URL: gate.url });

    gate.holdAfter(':idem:');
    const killed = post(base, image, 'crash-1').catch((err: Error) => err);
    const [claimKey] = await waitFor(
      () => scanKeys(admin!, `${t.prefix}:idem:*`).then((k) => (k.length && gate!.holding ? k : undefined)),
      20_000,
      'the key to be claimed',
    );
    await api!.kill();
    expect(await killed).toBeInstanceOf(Error);

    // Before the fix: the claim kept a 24 h TTL with no answer, and every retry got 409 for a day.
    const pttl = await admin.pttl(claimKey!);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(LEASE_MS);
    expect(JSON.parse((await admin.get(claimKey!))!)).not.toHaveProperty('answer');

    base = await startApi(await freePort());
    const started = Date.now();
    const statuses: number[] = [];
    let accepted: Response | undefined;
    while (!accepted && Date.now() - started < 15_000) {
      const res = await post(base, image, 'crash-1');
      statuses.push(res.status);
      if (res.status === 202) accepted = res;
      else {
        expect(res.status).toBe(409);
        await res.arrayBuffer();
        await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? 1) * 1000));
      }
    }
    expect(statuses.at(-1), `statuses ${statuses}`).toBe(202);
    const body = (await accepted!.json()) as { uploadId: string };
    // The answer is the key's now, for the day.
    expect(await admin.ttl(claimKey!)).toBeGreaterThan(86_000);
    const again = await post(base, image, 'crash-1');
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(((await again.json()) as { uploadId: string }).uploadId).toBe(body.uploadId);
  });

  it('removes the partial uploads a killed API left in .tmp, at start and periodically', async () => {
    dir = tempDir();
    // Without the rate check, so the half-sent upload below stays open until the kill.
    const env = { UPLOAD_DEADLINE_MS: '1000', UPLOAD_TEMP_MAX_AGE_MS: '2000', UPLOAD_MIN_BYTES_PER_SECOND: '0' };
    const port = await freePort();
    await startApi(port, env);
    // Half an upload, then nothing: its bytes are in a temporary file when the API dies.
    const req = multipart([
      { name: 'file', filename: 'a.jpg', contentType: 'image/jpeg', data: Buffer.alloc(200_000, 7) },
    ]);
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(
      `POST /uploads HTTP/1.1\r\nHost: x\r\nContent-Type: ${req.headers['content-type']}\r\n` +
        `Content-Length: ${req.payload.length}\r\n\r\n`,
    );
    socket.write(req.payload.subarray(0, 100_000));
    await waitFor(() => filesUnder(dir!).some((f) => f.startsWith('.tmp/')), 10_000, 'a temporary file');
    await api!.kill();
    socket.destroy();
    const partial = filesUnder(dir).filter((f) => f.startsWith('.tmp/'));
    expect(partial).toHaveLength(1);
    // And one an earlier crash left an hour ago.
    const old = path.join(dir, '.tmp', 'left-by-an-earlier-crash');
    writeFileSync(old, 'x');
    utimesSync(old, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));

    await startApi(await freePort(), env);
    // Before the fix they stayed forever (7 after two kills); now: the old one at start, the recent one once
    // it is older than UPLOAD_TEMP_MAX_AGE_MS.
    await waitFor(() => !filesUnder(dir!).includes('.tmp/left-by-an-earlier-crash'), 5000, 'the start-up sweep');
    await waitFor(() => filesUnder(dir!).length === 0, 10_000, 'the periodic sweep');
    expect(api!.output()).not.toContain('storage.sweep_failed');
  });
});
