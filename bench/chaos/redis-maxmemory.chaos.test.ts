import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, type RedisServerHandle, startRedisServer, type TsProcess } from '@bullpen/test-utils';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnApi, waitHttp } from '../lib/apps.ts';
import { noiseJpeg } from '../lib/images.ts';
import { fileBody } from '../lib/multipart.ts';
import { sleep } from '../lib/proc.ts';
import { adminClient, parseInfo } from '../lib/redis.ts';
import { recordFigures } from './report.ts';

const prefix = 'chaos-oom';
const BEFORE = 3;
const DURING = 40;
const IN_FLIGHT = 4;

/** Every file under `dir`, relative (temporary files included). */
function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

describe('uploads while Redis is at maxmemory (noeviction) (issue 10)', () => {
  let redis: RedisServerHandle;
  let admin: Redis;
  let dir: string;
  let api: TsProcess | undefined;
  beforeAll(async () => {
    redis = await startRedisServer();
    admin = adminClient(redis.url);
    dir = mkdtempSync(path.join(tmpdir(), 'bullpen-oom-'));
  });
  afterAll(async () => {
    await api?.kill();
    admin?.disconnect();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('answers only 503s with Retry-After, stores nothing, says not ready, and recovers once memory is freed', async () => {
    const port = await freePort();
    api = spawnApi({ REDIS_URL: redis.url, BULLPEN_PREFIX: prefix, STORAGE_DIR: dir, API_PORT: String(port) });
    const base = `http://127.0.0.1:${port}`;
    await waitHttp(`${base}/readyz`, api);
    const { body, contentType } = fileBody(await noiseJpeg(320, 240));
    const post = (key?: string) =>
      fetch(`${base}/uploads`, {
        method: 'POST',
        body: new Uint8Array(body),
        headers: { 'content-type': contentType, ...(key ? { 'idempotency-key': key } : {}) },
      });
    for (let i = 0; i < BEFORE; i++) {
      const res = await post();
      expect(res.status, await res.text()).toBe(202);
    }
    const filesBefore = filesUnder(dir);

    // Fill Redis to a small maxmemory, as a real one fills up: writes are refused with OOM, reads still work.
    const usedMemory = async () => Number(parseInfo(await admin.info('memory')).get('used_memory'));
    await admin.config('SET', 'maxmemory', String((await usedMemory()) + 2 * 1024 * 1024));
    let filler = 0;
    for (;;) {
      try {
        await admin.set(`${prefix}:filler:${filler++}`, Buffer.alloc(4096, 1));
      } catch (err) {
        expect((err as Error).message).toMatch(/^OOM/);
        break;
      }
    }
    // And keep it there: exactly at the limit, a refused write frees its query buffer and the next small write
    // fits again (uploads are then answered 202 or 503 by turns, never 500). Just under what is used, every
    // write is refused.
    await admin.config('SET', 'maxmemory', String((await usedMemory()) - 256 * 1024));

    const statuses = new Map<string, number>();
    const retryAfter: number[] = [];
    let sent = 0;
    const lane = async () => {
      while (sent < DURING) {
        const i = sent++;
        const res = await post(i % 2 ? `oom-${i}` : undefined);
        const json = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
        const label = `${res.status} ${json.error?.code ?? ''}`.trim();
        statuses.set(label, (statuses.get(label) ?? 0) + 1);
        if (res.status === 503) retryAfter.push(Number(res.headers.get('retry-after')));
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
    const readyDuring = (await fetch(`${base}/readyz`)).status;
    const statusReadDuring = (await fetch(`${base}/uploads/nosuchupload1`)).status;
    const filesDuring = filesUnder(dir);

    // An operator frees memory and lifts the limit.
    const freedAt = Date.now();
    for (let i = 0; i < filler; i += 500) {
      await admin.del(...Array.from({ length: Math.min(500, filler - i) }, (_, j) => `${prefix}:filler:${i + j}`));
    }
    await admin.config('SET', 'maxmemory', '0');
    while ((await fetch(`${base}/readyz`)).status !== 200 && Date.now() - freedAt < 10_000) await sleep(100);
    const readyAgainMs = Date.now() - freedAt;
    // A key refused during the OOM was not spent.
    const after = await post('oom-1');

    recordFigures('redis-maxmemory', {
      uploadsDuringOom: DURING,
      statuses: Object.fromEntries(statuses),
      retryAfterS: retryAfter.length ? { min: Math.min(...retryAfter), max: Math.max(...retryAfter) } : null,
      readyzDuringOom: readyDuring,
      statusReadDuringOom: statusReadDuring,
      filesLeftByRefusedUploads: filesDuring.length - filesBefore.length,
      readyAgainMsAfterFree: readyAgainMs,
      refusedKeyAcceptedAfter: after.status,
    });
    expect([...statuses.keys()].every((s) => /^503 (REDIS_UNAVAILABLE|QUEUE_UNAVAILABLE)$/.test(s))).toBe(true);
    expect(retryAfter).toHaveLength(DURING);
    expect(retryAfter.every((s) => s >= 1)).toBe(true);
    expect(readyDuring).toBe(503);
    expect(statusReadDuring).toBe(404);
    expect(filesDuring).toEqual(filesBefore);
    expect(after.status, await after.text()).toBe(202);
  });
});
