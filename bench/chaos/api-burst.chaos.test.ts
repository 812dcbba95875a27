import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { closeRedis, createRedisConnection } from '@bullpen/jobs';
import { freePort, type RedisServerHandle, spawnTs, startRedisServer, type TsProcess } from '@bullpen/test-utils';
import { UploadRecords } from '@bullpen/uploads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noiseJpeg } from '../lib/images.ts';
import { rssMb, sleep } from '../lib/proc.ts';
import { recordFigures } from './report.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const prefix = 'chaos-burst';
const BACKLOG_CAP = 50;
const WORKER_CONCURRENCY = 2;
/** Each job: two variants with a 100 ms pause between them, so a worker's capacity is small and known. */
const STEP_DELAY_MS = 100;
const BURST_S = 8;
const IN_FLIGHT_MAX = 64;

describe('a producer burst at ten times the workers capacity against the API', () => {
  let redis: RedisServerHandle;
  let dir: string;
  const procs: TsProcess[] = [];
  beforeAll(async () => {
    redis = await startRedisServer();
    dir = mkdtempSync(path.join(tmpdir(), 'bullpen-burst-'));
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const common = () => ({
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    LOG_FORMAT: 'json',
    REDIS_URL: redis.url,
    BULLPEN_PREFIX: prefix,
    STORAGE_DIR: dir,
  });

  it('answers 503 with Retry-After over the cap, stays bounded in memory, and finishes every 202', async () => {
    const apiPort = await freePort();
    const api = spawnTs(path.join(ROOT, 'apps/api/src/main.ts'), {
      cwd: path.join(ROOT, 'apps/api'),
      env: { ...common(), API_PORT: String(apiPort), QUEUE_MAX_BACKLOG: String(BACKLOG_CAP) },
    });
    procs.push(api);
    const worker = spawnTs(path.join(ROOT, 'apps/worker/src/main.ts'), {
      cwd: path.join(ROOT, 'apps/worker'),
      env: {
        ...common(),
        LOG_LEVEL: 'info',
        WORKER_HTTP_PORT: '0',
        WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
        WORKER_TEST_STEP_DELAY_MS: String(STEP_DELAY_MS),
      },
    });
    procs.push(worker);
    const base = `http://127.0.0.1:${apiPort}`;
    await waitHttp(`${base}/healthz`, api);
    await worker.waitForOutput(/worker\.started/, 30_000);

    const image = await noiseJpeg(256, 192);
    // A worker's capacity: at least STEP_DELAY_MS per job, WORKER_CONCURRENCY at once.
    const capacityPerS = (WORKER_CONCURRENCY * 1000) / STEP_DELAY_MS;
    const rate = capacityPerS * 10;
    const rss: number[] = [rssMb(api.pid)];
    const sampler = setInterval(() => rss.push(rssMb(api.pid)), 200);

    const statuses = new Map<number, number>();
    const retryAfter: number[] = [];
    const accepted: string[] = [];
    let skipped = 0;
    let inFlight = 0;
    const pending = new Set<Promise<void>>();
    const send = async () => {
      const form = new FormData();
      form.set('sizes', '128');
      form.set('file', new Blob([new Uint8Array(image)], { type: 'image/jpeg' }), 'burst.jpg');
      try {
        const res = await fetch(`${base}/uploads`, { method: 'POST', body: form });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 202) accepted.push(((await res.json()) as { uploadId: string }).uploadId);
        else {
          if (res.status === 503) retryAfter.push(Number(res.headers.get('retry-after')));
          await res.arrayBuffer();
        }
      } catch {
        statuses.set(0, (statuses.get(0) ?? 0) + 1);
      }
    };
    const started = Date.now();
    let sent = 0;
    while (Date.now() - started < BURST_S * 1000) {
      const due = Math.floor(((Date.now() - started) / 1000) * rate);
      while (sent < due) {
        sent++;
        if (inFlight >= IN_FLIGHT_MAX) {
          skipped++;
          continue;
        }
        inFlight++;
        const p = send().finally(() => {
          inFlight--;
          pending.delete(p);
        });
        pending.add(p);
      }
      await sleep(5);
    }
    await Promise.all(pending);
    const burstEnd = Date.now();
    const rssAtBurstEnd = rssMb(api.pid);

    // Every accepted upload must end done.
    const conn = createRedisConnection(redis.url, 'admin');
    const records = new UploadRecords(conn, prefix);
    const finalStatus = new Map<string, string>();
    const until = Date.now() + 120_000;
    let remaining = [...accepted];
    while (remaining.length && Date.now() < until) {
      const recs = await Promise.all(remaining.map((id) => records.get(id)));
      recs.forEach((r, i) => {
        if (r && (r.status === 'done' || r.status === 'dead')) finalStatus.set(remaining[i]!, r.status);
      });
      remaining = remaining.filter((id) => !finalStatus.has(id));
      if (remaining.length) await sleep(250);
    }
    const drainS = (Date.now() - burstEnd) / 1000;
    clearInterval(sampler);
    await closeRedis(conn);
    const done = [...finalStatus.values()].filter((s) => s === 'done').length;

    const figures = {
      backlogCap: BACKLOG_CAP,
      workerCapacityPerS: capacityPerS,
      offeredPerS: rate,
      burstS: (burstEnd - started) / 1000,
      requests: sent - skipped,
      clientSkippedOver64InFlight: skipped,
      statuses: Object.fromEntries(statuses),
      retryAfterS: retryAfter.length ? { min: Math.min(...retryAfter), max: Math.max(...retryAfter) } : null,
      accepted: accepted.length,
      acceptedDone: done,
      acceptedNotDone: accepted.length - done,
      drainAfterBurstS: drainS,
      measuredDrainPerS: Math.round((accepted.length / ((burstEnd - started) / 1000 + drainS)) * 10) / 10,
      apiRssMb: {
        start: Math.round(rss[0]!),
        max: Math.round(Math.max(...rss)),
        atBurstEnd: Math.round(rssAtBurstEnd),
        end: Math.round(rss.at(-1)!),
      },
    };
    recordFigures('api-burst', figures);
    expect(statuses.get(503) ?? 0).toBeGreaterThan(0);
    expect(retryAfter.every((s) => Number.isFinite(s) && s >= 1)).toBe(true);
    expect([...statuses.keys()].filter((s) => s !== 202 && s !== 503)).toEqual([]);
    expect(done).toBe(accepted.length);
    // Bounded: the API's resident memory grows by less than 150 MB over a burst of this size.
    expect(Math.max(...rss) - rss[0]!).toBeLessThan(150);
  });
});

async function waitHttp(url: string, proc: TsProcess): Promise<void> {
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    if ((await fetch(url).catch(() => undefined))?.ok) return;
    await sleep(100);
  }
  throw new Error(`${url} did not answer:\n${proc.output().slice(-2000)}`);
}
