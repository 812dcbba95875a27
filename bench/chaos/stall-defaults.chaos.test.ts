import { createProducer } from '@bullpen/jobs';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { benchRegistry, chaosKeys } from '../lib/jobs.ts';
import { sleep } from '../lib/proc.ts';
import { callsBetween, commandCalls } from '../lib/redis.ts';
import { median } from '../lib/stats.ts';
import { useEffectWorkerRig } from './effect-rig.ts';
import { recordFigures } from './report.ts';

const prefix = 'chaos-stall';
const keys = chaosKeys(prefix);
const TRIALS = 3;
const LOAD_WINDOW_MS = 10_000;

interface Load {
  topLevelPerS: number;
  insideScriptsPerS: number;
  stalledChecksPerS: number;
  lockRenewalsPerS: number;
  blockingPopsPerS: number;
  byCommand: Record<string, number>;
}

/** Everything the workers send to Redis for `ms`, classified from MONITOR (and cross-checked with INFO commandstats). */
async function measureLoad(url: string, admin: Redis, ms: number): Promise<Load> {
  const mon = await new Redis(url).monitor();
  const counts = { top: 0, lua: 0, stalled: 0, renew: 0, bpop: 0 };
  mon.on('monitor', (_time: string, args: string[], source: string) => {
    if (source.includes('lua')) {
      counts.lua++;
      return;
    }
    counts.top++;
    const cmd = args[0]?.toLowerCase();
    if (cmd === 'evalsha' || cmd === 'eval') {
      const ks = args.slice(3, 3 + Number(args[2]));
      if (ks.some((k) => k.endsWith(':stalled-check'))) counts.stalled++;
      else if (ks.length === 1 && ks[0]!.endsWith(':stalled')) counts.renew++;
    } else if (cmd === 'bzpopmin') counts.bpop++;
  });
  const before = await commandCalls(admin);
  await sleep(ms);
  const after = await commandCalls(admin);
  mon.disconnect();
  const s = ms / 1000;
  const perS = (n: number) => Math.round((n / s) * 100) / 100;
  const byCommand = callsBetween(before, after);
  delete byCommand.info;
  delete byCommand.monitor;
  return {
    topLevelPerS: perS(counts.top),
    insideScriptsPerS: perS(counts.lua),
    stalledChecksPerS: perS(counts.stalled),
    lockRenewalsPerS: perS(counts.renew),
    blockingPopsPerS: perS(counts.bpop),
    byCommand,
  };
}

describe("a killed worker's job with Bullpen's default lock settings", () => {
  const rig = useEffectWorkerRig(prefix);
  // No LOCK_MS / STALLED_MS: createWorker's defaults (lockDurationMs 10 000, stalledIntervalMs 5 000).
  const startWorker = () => rig.startWorker({ CONCURRENCY: '1' });

  it('resumes on another worker within 15 s, at a stated Redis cost', async () => {
    const { admin, conn, redis } = rig;
    const workers = [await startWorker(), await startWorker()];
    const producer = createProducer(benchRegistry, { connection: conn, prefix });
    const idle = await measureLoad(redis.url, admin, LOAD_WINDOW_MS);

    const resumeMs: number[] = [];
    let busy: Load | undefined;
    for (let trial = 0; trial < TRIALS; trial++) {
      const { jobId } = await producer.enqueue('chaos.effect', { n: 100 + trial, workMs: 50_000 });
      const owner = await waitForValue(() => admin.hget(keys.owner, jobId), 10_000);
      const startedAt = Number(await admin.hget(keys.started, jobId));
      if (trial === 0) busy = await measureLoad(redis.url, admin, LOAD_WINDOW_MS);
      // Killed at some point of its lock's life (1-6 s after the start or the last measure).
      else await sleep(1000 + trial * 2000);
      const i = workers.findIndex((w) => String(w.pid) === owner);
      expect(i).toBeGreaterThanOrEqual(0);
      await workers[i]!.kill();
      const killedAt = Date.now();
      workers[i] = await startWorker();
      const restartedAt = await waitForValue(async () => {
        const t = Number(await admin.hget(keys.started, jobId));
        return t > startedAt ? t : undefined;
      }, 40_000);
      resumeMs.push(restartedAt - killedAt);
      // Done with this job: take it out of the way (the other worker is running it).
      const newOwner = await admin.hget(keys.owner, jobId);
      const other = workers.find((w) => String(w.pid) === newOwner);
      if (other) {
        await other.kill();
        workers[workers.indexOf(other)] = await startWorker();
      }
      await admin.lrem(`${prefix}:chaos:active`, 0, jobId);
      await admin.del(`${prefix}:chaos:${jobId}`, `${prefix}:chaos:${jobId}:lock`);
    }
    await producer.close();

    const figures = {
      lockDurationMs: 10_000,
      stalledIntervalMs: 5_000,
      workers: 2,
      trials: TRIALS,
      killToResumeMs: { runs: resumeMs, p50: median(resumeMs), max: Math.max(...resumeMs) },
      expectedRangeMs: 'lock left at the kill (5-10 s) + up to one stalled interval (5 s)',
      bullmqDefaultsExpectedMs: 'lockDuration 30 000 + stalledInterval 30 000: 30-60 s',
      redisLoadTwoIdleWorkers: idle,
      redisLoadOneJobActive: busy,
    };
    recordFigures('stall-defaults', figures);
    // By construction at most lockDuration + stalledInterval (15 s) plus the checker's own drift and a fetch.
    expect(Math.max(...resumeMs)).toBeLessThan(17_000);
  });
});

async function waitForValue<T>(fn: () => Promise<T | null | undefined>, timeoutMs: number): Promise<T> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const v = await fn();
    if (v !== null && v !== undefined) return v;
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms`);
}
