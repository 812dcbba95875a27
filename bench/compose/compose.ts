import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const ROOT = path.resolve(import.meta.dirname, '../..');

/** `docker compose` (v2) when the docker CLI has it, else `docker-compose` (v1, what Debian bookworm ships). */
export function composeCommand(): [string, string[]] {
  try {
    execFileSync('docker', ['compose', 'version'], { stdio: 'ignore' });
    return ['docker', ['compose']];
  } catch {
    return ['docker-compose', []];
  }
}

/** Whether a container engine answers; the reason when not. */
export function engineProblem(): string | undefined {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 20_000 });
    return undefined;
  } catch (err) {
    return `no container engine answers (docker info: ${(err as Error).message.split('\n')[0]})`;
  }
}

export interface Stack {
  readonly project: string;
  compose(...args: string[]): Promise<string>;
  docker(...args: string[]): Promise<string>;
  /** The running containers of one service, by name. */
  containers(service: string): Promise<string[]>;
}

/**
 * A compose project of its own (its own containers, network and volumes), from the repository's
 * docker-compose.yml plus an override the test writes: host ports, test settings, and host networking for
 * builds on an engine without a bridge (as the shared engine script starts it).
 */
export function composeStack(opts: { apiPort: number; dashboardPort: number; workerEnv: Record<string, string> }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'bullpen-compose-'));
  const project = `bullpen-smoke-${process.pid}`;
  const envFile = path.join(dir, '.env');
  execFileSync(process.execPath, [path.join(ROOT, 'scripts/compose-env.mjs'), `--out=${envFile}`, '--force'], {
    stdio: 'ignore',
  });
  const noBridge = (() => {
    try {
      execFileSync('docker', ['network', 'inspect', 'bridge'], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  })();
  const build = noBridge ? { build: { network: 'host' } } : {};
  const override = {
    services: {
      api: { ...build },
      dashboard: { ...build },
      worker: { ...build, environment: opts.workerEnv },
    },
  };
  const overrideFile = path.join(dir, 'override.json');
  writeFileSync(overrideFile, JSON.stringify(override, null, 2));
  const [cmd, pre] = composeCommand();
  const env = {
    ...process.env,
    API_HOST_PORT: String(opts.apiPort),
    DASHBOARD_HOST_PORT: String(opts.dashboardPort),
  };
  const base = [...pre, '-p', project, '--env-file', envFile, '-f', path.join(ROOT, 'docker-compose.yml')];
  const stack: Stack = {
    project,
    async compose(...args) {
      const { stdout } = await run(cmd, [...base, '-f', overrideFile, ...args], {
        cwd: ROOT,
        env,
        maxBuffer: 64 * 1024 * 1024,
      });
      return stdout;
    },
    async docker(...args) {
      const { stdout } = await run('docker', args, { env, maxBuffer: 64 * 1024 * 1024 });
      return stdout;
    },
    async containers(service) {
      const out = await stack.docker(
        'ps',
        '--filter',
        `label=com.docker.compose.project=${project}`,
        '--filter',
        `label=com.docker.compose.service=${service}`,
        '--format',
        '{{.Names}}',
      );
      return out.split('\n').filter(Boolean).sort();
    },
  };
  return { stack, dir };
}

/** A container's health (`healthy`, `starting`, `unhealthy`, or its state when it has no healthcheck). */
export async function health(stack: Stack, container: string): Promise<string> {
  const out = await stack.docker(
    'inspect',
    '-f',
    '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}',
    container,
  );
  return out.trim();
}

/** Seconds from a container's start to its first passing healthcheck. */
export async function secondsToHealthy(stack: Stack, container: string): Promise<number> {
  const out = await stack.docker('inspect', '-f', '{{json .State}}', container);
  const state = JSON.parse(out) as { StartedAt: string; Health?: { Log: { End: string; ExitCode: number }[] } };
  const firstOk = state.Health?.Log.find((l) => l.ExitCode === 0);
  if (!firstOk) return Number.NaN;
  return (Date.parse(firstOk.End) - Date.parse(state.StartedAt)) / 1000;
}

/** Polls `fn` every `intervalMs` (docker commands are costly: not every 50 ms) until it returns a truthy value. */
export async function until<T>(fn: () => Promise<T>, timeoutMs: number, intervalMs = 1000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`not within ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
}
