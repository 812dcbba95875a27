import path from 'node:path';
import { spawnNode, type TsProcess } from '@bullpen/test-utils';
import { sleep } from './proc.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');

/** The API as it runs in production: its compiled entry point as one process (`node apps/api/dist/main.js`). */
export function spawnApi(env: Record<string, string>): TsProcess {
  return spawnNode([path.join(ROOT, 'apps/api/dist/main.js')], {
    cwd: path.join(ROOT, 'apps/api'),
    env: { NODE_ENV: 'production', LOG_LEVEL: 'warn', LOG_FORMAT: 'json', ...env },
  });
}

/** The worker as it runs in production: `node apps/worker/dist/main.js`, one process. */
export function spawnWorkerApp(env: Record<string, string>): TsProcess {
  return spawnNode([path.join(ROOT, 'apps/worker/dist/main.js')], {
    cwd: path.join(ROOT, 'apps/worker'),
    env: {
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      WORKER_HTTP_PORT: '0',
      WEBHOOK_SECRET: 'bench-secret-0123456789abcdef',
      ...env,
    },
  });
}

export async function waitHttp(url: string, proc: TsProcess, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if ((await fetch(url).catch(() => undefined))?.ok) return;
    if (proc.child.exitCode !== null) break;
    await sleep(100);
  }
  throw new Error(`${url} did not answer:\n${proc.output().slice(-2000)}`);
}
