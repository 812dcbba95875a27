import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, spawnTs } from '@bullpen/test-utils';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../../..');

/** Runs a plain Node script of the repository to its end; its exit code and what it printed. */
function runScript(file: string, env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, file)], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('start-up errors a person understands (issue 15)', () => {
  let dataDir: string | undefined;
  afterEach(() => {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    dataDir = undefined;
  });

  it('npm start with API_PORT=abc names the variable and CONFIG_INVALID, and starts nothing', async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'bullpen-up-'));
    const { code, out } = await runScript('scripts/up.mjs', {
      BULLPEN_DATA_DIR: dataDir,
      API_PORT: 'abc',
      DASHBOARD_AUTH_DISABLED: 'true',
    });
    expect(code).toBe(1);
    expect(out).toMatch(/^CONFIG_INVALID: API_PORT: expected number, got "abc"$/m);
    expect(out).not.toMatch(/options\.port|Received type number|at .*\.m?js:\d+/);
    // Nothing was started: no Redis data, no stack file.
    expect(readdirSync(dataDir)).toEqual([]);
  });

  for (const app of ['api', 'worker', 'dashboard'] as const) {
    it(`the ${app} with an unreachable Redis prints one REDIS_NOT_READY line with the URL, no stack trace`, async () => {
      const port = await freePort();
      const url = `redis://:hunter2@127.0.0.1:${port}`;
      const child = spawnTs(path.join(ROOT, `apps/${app}/src/main.ts`), {
        cwd: path.join(ROOT, `apps/${app}`),
        env: {
          REDIS_URL: url,
          NODE_ENV: 'test',
          WORKER_HTTP_PORT: '0',
          API_PORT: '0',
          DASHBOARD_PORT: '0',
          DASHBOARD_AUTH_DISABLED: 'true',
          STORAGE_DIR: path.join(tmpdir(), 'bullpen-unused-storage'),
        },
      });
      expect(await child.exited).toBe(1);
      const lines = child
        .output()
        .split('\n')
        .filter((l) => l.trim() && !l.includes('auth is off') && !l.includes('WARNING'));
      const errors = lines.filter((l) => /REDIS_NOT_READY/.test(l));
      expect(errors).toEqual([
        `REDIS_NOT_READY: Redis is not reachable (connect ECONNREFUSED 127.0.0.1:${port}) at redis://:***@127.0.0.1:${port}`,
      ]);
      expect(child.output()).not.toMatch(/ioredis|Unhandled error event|hunter2|\n\s+at /);
    });
  }
});
