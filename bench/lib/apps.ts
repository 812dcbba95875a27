import path from 'node:path';
import { spawnNode, spawnTs, type TsProcess } from '@bullpen/test-utils';
import { sleep } from './proc.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');

/**
 * How an app runs: `built` is production's `node dist/main.js` (benchmarks, after `pnpm build`); otherwise its
 * TypeScript source (the chaos suite, which runs without a build).
 */
export interface AppRun {
  built?: boolean;
}

function spawnApp(app: string, run: AppRun, env: Record<string, string>): TsProcess {
  const cwd = path.join(ROOT, 'apps', app);
  return run.built
    ? spawnNode([path.join(cwd, 'dist/main.js')], { cwd, env })
    : spawnTs(path.join(cwd, 'src/main.ts'), { cwd, env });
}

/** The API as one process. */
export function spawnApi(env: Record<string, string>, run: AppRun = {}): TsProcess {
  return spawnApp('api', run, { NODE_ENV: 'production', LOG_LEVEL: 'warn', LOG_FORMAT: 'json', ...env });
}

/** The worker as one process. */
export function spawnWorkerApp(env: Record<string, string>, run: AppRun = {}): TsProcess {
  return spawnApp('worker', run, {
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'json',
    WORKER_HTTP_PORT: '0',
    WEBHOOK_SECRET: 'bench-secret-0123456789abcdef',
    ...env,
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
