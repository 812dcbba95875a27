import path from 'node:path';
import { spawnTs, type TsProcess } from '@bullpen/test-utils';
import { sleep } from './proc.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');

/** The API's own entry point as one process (`apps/api/src/main.ts`). */
export function spawnApi(env: Record<string, string>): TsProcess {
  return spawnTs(path.join(ROOT, 'apps/api/src/main.ts'), {
    cwd: path.join(ROOT, 'apps/api'),
    env: { NODE_ENV: 'production', LOG_LEVEL: 'warn', LOG_FORMAT: 'json', ...env },
  });
}

/** The worker's own entry point as one process (`apps/worker/src/main.ts`). */
export function spawnWorkerApp(env: Record<string, string>): TsProcess {
  return spawnTs(path.join(ROOT, 'apps/worker/src/main.ts'), {
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
