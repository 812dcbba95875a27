import { rmSync } from 'node:fs';
import { freePort, makeImage } from '@bullpen/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeStack, engineProblem, health, type Stack, secondsToHealthy, until } from './compose.ts';

const WORKERS = 3;
const problem = engineProblem();
if (problem) console.log(`compose smoke test skipped: ${problem}`);

interface UploadStatus {
  status: string;
  jobId: string;
}

/**
 * The stack as `docker compose up --scale worker=3` runs it, under a real engine: images built from the
 * Dockerfile, compiled JavaScript, health gates, several workers sharing the jobs, and a worker container
 * SIGKILLed mid-job whose job another worker finishes.
 */
describe.skipIf(problem !== undefined)('docker compose: the whole stack in containers', () => {
  let stack: Stack;
  let dir: string;
  let api: string;

  beforeAll(async () => {
    const ports = { apiPort: await freePort(), dashboardPort: await freePort() };
    api = `http://127.0.0.1:${ports.apiPort}`;
    ({ stack, dir } = composeStack({
      ...ports,
      // One job at a time per worker, slow between variants (so a kill lands mid-job), short locks (so the
      // killed worker's job is taken again within seconds).
      workerEnv: {
        WORKER_CONCURRENCY: '1',
        WORKER_TEST_STEP_DELAY_MS: '1000',
        WORKER_LOCK_DURATION_MS: '4000',
        WORKER_STALLED_INTERVAL_MS: '2000',
      },
    }));
    await stack.compose('build');
    await stack.compose('up', '-d', '--scale', `worker=${WORKERS}`);
  }, 900_000);

  afterAll(async () => {
    await stack?.compose('down', '-v', '--remove-orphans', '--timeout', '10').catch((err) => console.error(err));
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  async function upload(): Promise<{ uploadId: string; jobId: string }> {
    const form = new FormData();
    form.append(
      'file',
      new Blob([await makeImage('jpeg', 1200, 800, { noise: true })], { type: 'image/jpeg' }),
      'a.jpg',
    );
    const res = await fetch(`${api}/uploads`, { method: 'POST', body: form });
    expect(res.status).toBe(202);
    return (await res.json()) as { uploadId: string; jobId: string };
  }

  const status = async (id: string) => (await (await fetch(`${api}/uploads/${id}`)).json()) as UploadStatus;

  /** The container that took (or last took) a job: its worker name is `<container id>:<pid>`. */
  async function takenBy(jobId: string): Promise<string | undefined> {
    const [redis] = await stack.containers('redis');
    const name = (await stack.docker('exec', redis!, 'redis-cli', 'HGET', `bullpen:images:${jobId}`, 'pb')).trim();
    if (!name) return undefined;
    const id = name.split(':')[0]!;
    for (const c of await stack.containers('worker')) {
      if ((await stack.docker('inspect', '-f', '{{.Config.Hostname}}', c)).trim() === id) return c;
    }
    return undefined;
  }

  it('turns every container healthy, each within seconds of its start', async () => {
    const all = [
      ...(await stack.containers('redis')),
      ...(await stack.containers('api')),
      ...(await stack.containers('worker')),
      ...(await stack.containers('dashboard')),
    ];
    expect(all).toHaveLength(3 + WORKERS);
    await until(
      async () => (await Promise.all(all.map((c) => health(stack, c)))).every((h) => h === 'healthy'),
      180_000,
    );
    const seconds = Object.fromEntries(await Promise.all(all.map(async (c) => [c, await secondsToHealthy(stack, c)])));
    console.log(`[compose] seconds from start to healthy: ${JSON.stringify(seconds)}`);
  });

  it('spreads uploads over several workers and finishes every one', async () => {
    const uploads = await Promise.all(Array.from({ length: 6 }, upload));
    await until(
      async () => (await Promise.all(uploads.map((u) => status(u.uploadId)))).every((s) => s.status === 'done'),
      240_000,
    );
    const workers = new Set(await Promise.all(uploads.map((u) => takenBy(u.jobId))));
    console.log(`[compose] 6 uploads done by ${workers.size} worker containers`);
    expect(workers.size).toBeGreaterThanOrEqual(2);
  });

  it('finishes on another worker the job of a worker container SIGKILLed mid-job', async () => {
    const { uploadId, jobId } = await upload();
    const victim = await until(
      async () => ((await status(uploadId)).status === 'processing' ? await takenBy(jobId) : undefined),
      120_000,
    );
    // Not restarted by its restart policy: the job must be finished by another container.
    await stack.docker('update', '--restart=no', victim);
    await stack.docker('kill', '--signal', 'KILL', victim);
    await until(async () => (await status(uploadId)).status === 'done', 180_000);
    const finisher = await takenBy(jobId);
    console.log(`[compose] job of ${victim} (SIGKILLed) finished by ${finisher}`);
    expect(finisher).toBeDefined();
    expect(finisher).not.toBe(victim);
  });
});
