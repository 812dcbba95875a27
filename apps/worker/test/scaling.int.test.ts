import { freePort, type TsProcess, useRedisTest, waitFor } from '@bullpen/test-utils';
import { uploadKeys } from '@bullpen/uploads';
import { afterEach, describe, expect, it } from 'vitest';
import { planVariants } from '../src/handlers/image-resize.ts';
import { filesUnder, makeImage, removeDir, type Seeder, seeder, spawnWorker, tempDir, workerEnv } from './helpers.ts';

const SIZES: (128 | 512)[] = [128, 512];
// A short pause between variants keeps each job a few tens of ms long, so that three processes all get a share of
// a small batch (without it, the first process to poll may drain it before the others have fetched).
const STEP_DELAY_MS = '40';

interface LogLine {
  msg?: string;
  jobId?: string;
  pid?: number;
}

function logLines(p: TsProcess): LogLine[] {
  return p
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as LogLine;
      } catch {
        return {};
      }
    });
}

describe('N worker processes on one Redis and one storage folder', () => {
  const t = useRedisTest();
  let dir: string | undefined;
  let s: Seeder | undefined;
  const procs: TsProcess[] = [];

  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.kill()));
    await s?.close();
    s = undefined;
    removeDir(dir);
    dir = undefined;
  });

  async function startWorkers(n: number): Promise<TsProcess[]> {
    const started = await Promise.all(
      Array.from({ length: n }, async () => {
        const port = await freePort();
        const p = spawnWorker(
          workerEnv(t, dir!, {
            LOG_LEVEL: 'info',
            WORKER_HTTP_PORT: String(port),
            WORKER_CONCURRENCY: '1',
            WORKER_QUEUES: 'images',
            SHARP_CONCURRENCY: '1',
            WORKER_TEST_STEP_DELAY_MS: STEP_DELAY_MS,
          }),
        );
        procs.push(p);
        await p.waitForOutput(/"msg":"worker\.started"/, 30_000);
        return p;
      }),
    );
    return started;
  }

  /** SIGTERM, as an orchestrator would; each exits 0. */
  async function stopWorkers(ps: TsProcess[]) {
    for (const p of ps) p.child.kill('SIGTERM');
    expect(await Promise.all(ps.map((p) => p.exited))).toEqual(ps.map(() => 0));
  }

  async function runBatch(label: string, workers: TsProcess[], count: number) {
    const image = await makeImage('jpeg', 640, 480);
    const ids = Array.from({ length: count }, (_, i) => `scale_${label}_${String(i).padStart(3, '0')}`);
    const started = Date.now();
    await Promise.all(ids.map((id) => s!.seed(id, image, { format: 'jpeg', width: 640, height: 480, sizes: SIZES })));
    await waitFor(
      async () => {
        const records = await Promise.all(ids.map((id) => s!.records.get(id)));
        return records.every((r) => r?.status === 'done');
      },
      40_000,
      `every ${label} upload done`,
    );
    const ms = Date.now() - started;

    // Each upload: done, its variants recorded once, its files in storage exactly as planned.
    const planned = planVariants({ format: 'jpeg', sizes: SIZES }).map((v) => v.name);
    for (const id of ids) {
      const r = (await s!.records.get(id))!;
      expect(r.status).toBe('done');
      expect(r.variants.map((v) => v.name)).toEqual(planned);
    }
    const mine = (f: string) => ids.some((id) => f.startsWith(`uploads/${id}/`) || f === uploadKeys.original(id));
    expect(filesUnder(dir!).filter(mine)).toEqual(
      ids.flatMap((id) => [...planned.map((n) => `uploads/${id}/${n}`), uploadKeys.original(id)]).sort(),
    );
    expect(filesUnder(dir!).filter((f) => f.startsWith('.tmp/'))).toEqual([]);

    // Each job completed exactly once across the processes (from their logs), none failed, none dead.
    const perJob = new Map<string, number>();
    const perWorker = workers.map((w) => {
      const completed = logLines(w).filter(
        (l) => l.msg === 'job.completed' && ids.some((id) => l.jobId === `image.resize#${id}`),
      );
      for (const l of completed) perJob.set(l.jobId!, (perJob.get(l.jobId!) ?? 0) + 1);
      expect(logLines(w).filter((l) => l.msg === 'job.failed')).toEqual([]);
      return completed.length;
    });
    expect([...perJob.keys()].sort()).toEqual(ids.map((id) => `image.resize#${id}`).sort());
    expect([...perJob.values()].every((n) => n === 1)).toBe(true);
    const counts = await s!.producer.queue('images').getJobCounts('completed', 'failed', 'active', 'waiting');
    expect(counts).toMatchObject({ failed: 0, active: 0, waiting: 0 });
    expect(await s!.producer.queue('images.dead').count()).toBe(0);
    console.info(
      `${label}: ${count} resize jobs on ${workers.length} worker process(es) in ${ms} ms; split ${JSON.stringify(
        workers.map((w, i) => ({ pid: w.pid, jobs: perWorker[i] })),
      )}`,
    );
    return { ms, perWorker };
  }

  it('1 then 3 real worker processes: every job done exactly once, the work spread over all 3', async () => {
    dir = tempDir('scaling');
    s = seeder(t, dir);

    const one = await startWorkers(1);
    const a = await runBatch('one', one, 8);
    expect(a.perWorker).toEqual([8]);
    await stopWorkers(one);

    const three = await startWorkers(3);
    const b = await runBatch('three', three, 24);
    expect(b.perWorker.reduce((x, y) => x + y, 0)).toBe(24);
    for (const n of b.perWorker) expect(n).toBeGreaterThanOrEqual(1);
    await stopWorkers(three);
  });
});
