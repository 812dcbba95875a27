#!/usr/bin/env node
// Installs the workspace's dependencies when they are missing or older than the lockfile, so that a fresh
// clone needs nothing but Node 20: `npm start` and `npm test` call it first. pnpm itself comes through npx at
// the version package.json pins (no global install). Plain Node ESM, no dependency.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');

/** True when node_modules matches the lockfile (pnpm writes .modules.yaml last on every install). */
function installed() {
  const marker = path.join(ROOT, 'node_modules/.modules.yaml');
  if (!existsSync(marker)) return false;
  return statSync(marker).mtimeMs >= statSync(path.join(ROOT, 'pnpm-lock.yaml')).mtimeMs;
}

/** The pnpm to run: the one on the PATH when it is the pinned version, else that version through npx. */
function pnpmCommand() {
  const pinned = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).packageManager; // pnpm@x.y.z
  const onPath = spawnSync('pnpm', ['--version'], { encoding: 'utf8' });
  if (!onPath.error && `pnpm@${onPath.stdout.trim()}` === pinned) return ['pnpm', []];
  return ['npx', ['--yes', pinned]];
}

export function ensureInstalled() {
  if (installed()) return;
  const [cmd, pre] = pnpmCommand();
  process.stdout.write(`[bootstrap] installing dependencies (${[cmd, ...pre, 'install'].join(' ')})...\n`);
  const r = spawnSync(cmd, [...pre, 'install', '--frozen-lockfile'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`[bootstrap] the install failed (${r.error?.message ?? `exit ${r.status}`}).\n`);
    process.exit(1);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) ensureInstalled();
