// CPU profile of the upload API under autocannon load (bench 3's request), for finding what a request costs.
// It profiles the built API as bench 3 runs it (`node apps/api/dist/main.js`; `pnpm build` first):
//   tsx bench/tools/profile-api.ts   → bench/results/tmp/prof/api/*.cpuprofile, then summarize-cpuprofile.ts
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, startRedisServer } from '@bullpen/test-utils';
import autocannon from 'autocannon';
import { ROOT } from '../lib/apps.ts';
import { jpeg200k } from '../lib/images.ts';
import { fileBody } from '../lib/multipart.ts';
import { sleep } from '../lib/proc.ts';

const redis = await startRedisServer();
const dir = mkdtempSync(path.join(tmpdir(), 'bench-prof-api-'));
const port = await freePort();
const profDir = path.join(ROOT, 'bench/results/tmp/prof/api');
const child = spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir', profDir, 'dist/main.js'], {
  cwd: path.join(ROOT, 'apps/api'),
  env: {
    ...process.env,
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    REDIS_URL: redis.url,
    BULLPEN_PREFIX: 'prof',
    STORAGE_DIR: dir,
    API_PORT: String(port),
    QUEUE_MAX_BACKLOG: '100000000',
  },
  stdio: 'inherit',
});
try {
  for (let i = 0; i < 100 && !(await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok; i++)
    await sleep(100);
  const { body, contentType } = fileBody(await jpeg200k());
  const res = await autocannon({
    url: `http://127.0.0.1:${port}/uploads`,
    method: 'POST',
    connections: 50,
    duration: 5,
    headers: { 'content-type': contentType },
    body,
  });
  process.stdout.write(`${res['2xx']} accepted in ${res.duration} s; profile in ${profDir}\n`);
} finally {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  rmSync(dir, { recursive: true, force: true });
  await redis.stop();
}
