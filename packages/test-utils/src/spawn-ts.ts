import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const tsxDir = path.dirname(require.resolve('tsx/package.json'));

/**
 * Node arguments that run a TypeScript file in this very process. Unlike the `tsx` command, which
 * runs the program in a child of its own, the pid returned by spawn is the program's: SIGKILL kills it.
 */
export function tsNodeArgs(file: string, opts: { source?: boolean } = {}): string[] {
  return [
    // Workspace packages as TypeScript source, never a stale dist/ (see their `exports`); benchmarks measure
    // the built JavaScript instead (`source: false`).
    ...(opts.source === false ? [] : ['--conditions=@bullpen/source']),
    '--require',
    path.join(tsxDir, 'dist/preflight.cjs'),
    '--import',
    pathToFileURL(path.join(tsxDir, 'dist/loader.mjs')).href,
    file,
  ];
}

export interface TsProcess {
  child: ChildProcess;
  pid: number;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the first output line that matches (rejects after `timeoutMs` or on exit). */
  waitForOutput(match: RegExp, timeoutMs?: number): Promise<string>;
  /** The exit code, or the signal that ended it. */
  exited: Promise<number | string>;
  /** SIGKILL unless it has exited; resolves when it has. */
  kill(): Promise<void>;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Workspace packages as TypeScript source (default) or as their built dist/ (benchmarks). */
  source?: boolean;
}

/**
 * Runs a TypeScript file as a real child process (one process: its pid is the program's). Its
 * environment is PATH and HOME plus `env`, so a developer's own settings never leak into a test.
 */
export function spawnTs(file: string, opts: SpawnOptions = {}): TsProcess {
  return spawnNode(tsNodeArgs(file, opts), { cwd: path.dirname(file), ...opts });
}

/** Runs `node <args>` as a real child process, with the same environment rules as `spawnTs`. */
export function spawnNode(args: string[], opts: SpawnOptions = {}): TsProcess {
  const child = spawn(process.execPath, args, {
    cwd: opts.cwd ?? process.cwd(),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of waiters) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      resolve(code ?? signal ?? -1);
      for (const w of waiters) w();
    }),
  );
  const done = () => child.exitCode !== null || child.signalCode !== null;
  return {
    child,
    pid: child.pid!,
    output: () => out,
    exited,
    waitForOutput(match, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => finish(new Error(`no output matching ${match} within ${timeoutMs} ms:\n${out.slice(-2000)}`)),
          timeoutMs,
        );
        const finish = (err?: Error, line?: string) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (err) reject(err);
          else resolve(line!);
        };
        const check = () => {
          const line = out.split('\n').find((l) => match.test(l));
          if (line !== undefined) finish(undefined, line);
          else if (done()) finish(new Error(`process exited before output matching ${match}:\n${out.slice(-2000)}`));
        };
        waiters.add(check);
        check();
      });
    },
    async kill() {
      if (!done()) child.kill('SIGKILL');
      await exited;
    },
  };
}
