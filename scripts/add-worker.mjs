#!/usr/bin/env node
// `npm run worker`: one more worker process for the stack that `npm start` runs on this machine, on the same
// Redis and storage folder (read from .data/stack.json, which `npm start` writes while it runs). Ctrl-C stops
// it (SIGTERM: active jobs finish within the grace period, the rest go back to the queue).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ensureInstalled } from './bootstrap.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
const DATA = process.env.BULLPEN_DATA_DIR ? path.resolve(process.env.BULLPEN_DATA_DIR) : path.join(ROOT, '.data');
const STACK_FILE = path.join(DATA, 'stack.json');

ensureInstalled();
if (!existsSync(STACK_FILE)) {
  process.stderr.write(
    'No stack is running here (no .data/stack.json): start it with `npm start` first, or run a worker against\n' +
      'your own Redis: REDIS_URL=redis://host:6379 STORAGE_DIR=/shared/folder pnpm --filter @bullpen/worker dev\n',
  );
  process.exit(1);
}
const { REDIS_URL, STORAGE_DIR, BULLPEN_PREFIX } = JSON.parse(readFileSync(STACK_FILE, 'utf8'));
const child = spawn(process.execPath, ['--conditions=@bullpen/source', '--import', 'tsx', 'src/main.ts'], {
  cwd: path.join(ROOT, 'apps/worker'),
  // Port 0: any number of extra workers, each with its own /healthz and /metrics port (it logs which).
  env: {
    ...process.env,
    REDIS_URL,
    STORAGE_DIR,
    BULLPEN_PREFIX,
    WORKER_HTTP_PORT: process.env.WORKER_HTTP_PORT ?? '0',
  },
  stdio: 'inherit',
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
