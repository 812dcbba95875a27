#!/usr/bin/env node
// `pnpm start` / `pnpm dev`: the whole stack on this machine, in one command.
//
// Redis: REDIS_URL when set; otherwise a `redis-server` from the PATH that this script starts itself
// (AOF on, `appendfsync everysec`, `maxmemory-policy noeviction`, data in .data/redis) on REDIS_PORT
// (default 6390, or a free port when 6390 is taken). Then the API, one worker and the dashboard, each one
// process (`node --conditions=@bullpen/source --import tsx src/main.ts` in its app folder: TypeScript source, no build), their log lines prefixed with their name.
// Ctrl-C (SIGINT) or SIGTERM stops everything it started: the apps first (SIGTERM, then SIGKILL after a
// deadline), Redis last. When a process dies on its own, the others are stopped and this exits 1.
//
// While it runs, .data/stack.json says where its Redis and storage are, so `npm run worker` can add workers.
//
// Plain Node ESM, no build: it must run on a fresh clone with nothing but Node (it installs the dependencies
// first when they are missing).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ensureInstalled } from './bootstrap.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
// BULLPEN_DATA_DIR moves it (tests use a temporary folder).
const DATA = process.env.BULLPEN_DATA_DIR ? path.resolve(process.env.BULLPEN_DATA_DIR) : path.join(ROOT, '.data');
const REDIS_DIR = path.join(DATA, 'redis');
const CREDENTIALS = path.join(DATA, 'dashboard-credentials.json');
/** Where the running stack's Redis and storage are (read by scripts/add-worker.mjs). */
const STACK_FILE = path.join(DATA, 'stack.json');
const env = process.env;
const color = process.stdout.isTTY && !env.NO_COLOR;
const paint = (code, s) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);

/** How long the apps get to stop after SIGTERM before SIGKILL (the worker's grace period, plus a margin). */
const APP_STOP_DEADLINE_MS = Number(env.WORKER_SHUTDOWN_GRACE_MS || 25_000) + 5_000;
const REDIS_STOP_DEADLINE_MS = 10_000;

function say(msg) {
  process.stdout.write(`${paint('1', '[up]')} ${msg}\n`);
}
function fail(msg) {
  process.stderr.write(`${paint('31;1', '[up]')} ${msg}\n`);
}

// ---- preconditions ---------------------------------------------------------------------------------------

ensureInstalled();

/** Every app's configuration, checked by the apps' own schemas before anything starts (one CONFIG_INVALID line). */
function checkConfig(appEnv) {
  const r = spawnSync(
    process.execPath,
    [
      '--conditions=@bullpen/source',
      '--import',
      'tsx',
      path.join(ROOT, 'scripts/check-config.ts'),
      JSON.stringify(appEnv),
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (r.status !== 0) {
    process.stderr.write(r.stderr || `${r.error?.message ?? 'the configuration check failed'}\n`);
    process.exit(1);
  }
}

function onPath(cmd) {
  const r = spawnSync(cmd, ['--version'], { stdio: 'ignore' });
  return !r.error;
}

function portFree(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** PING over RESP: true once Redis answers +PONG (not -LOADING while it replays its AOF). */
function redisPing(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    let buf = '';
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('error', () => done(false));
    s.once('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      buf += d;
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

// ---- the processes ---------------------------------------------------------------------------------------

/** @type {{ name: string, child: import('node:child_process').ChildProcess, exited: Promise<void>, done: boolean }[]} */
const started = [];
let stopping = false;
let exitCode = 0;

const COLORS = { redis: '31', api: '36', worker: '35', dashboard: '33' };

function prefixLines(name, stream, out) {
  const label = paint(COLORS[name] ?? '37', `${name.padEnd(9)}|`);
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) out.write(`${label} ${line}\n`);
  });
  stream.on('end', () => {
    if (rest) out.write(`${label} ${rest}\n`);
  });
}

function start(name, cmd, args, opts) {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: a Ctrl-C at the terminal reaches only this script, which then stops each process
    // once, in order (a second signal would make the worker exit at once, and Redis must go last).
    detached: true,
  });
  const entry = { name, child, done: false, exited: undefined };
  entry.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      entry.done = true;
      if (!stopping) {
        fail(`${name} exited on its own (${signal ?? `code ${code}`}): stopping everything.`);
        exitCode = 1;
        void stopAll();
      }
      resolve();
    });
    child.once('error', (err) => {
      entry.done = true;
      fail(`cannot start ${name}: ${err.message}`);
      exitCode = 1;
      if (!stopping) void stopAll();
      resolve();
    });
  });
  prefixLines(name, child.stdout, process.stdout);
  prefixLines(name, child.stderr, process.stderr);
  started.push(entry);
  return entry;
}

async function stopOne(entry, deadlineMs) {
  if (entry.done) return;
  try {
    entry.child.kill('SIGTERM');
  } catch {}
  const timer = setTimeout(() => {
    if (!entry.done) {
      fail(`${entry.name} did not stop within ${deadlineMs} ms: SIGKILL`);
      try {
        entry.child.kill('SIGKILL');
      } catch {}
    }
  }, deadlineMs);
  await entry.exited;
  clearTimeout(timer);
}

let stopped;
function stopAll() {
  stopped ??= (async () => {
    stopping = true;
    const apps = started.filter((e) => e.name !== 'redis');
    if (apps.some((e) => !e.done)) say('stopping api, worker and dashboard...');
    await Promise.all(apps.map((e) => stopOne(e, APP_STOP_DEADLINE_MS)));
    const redis = started.find((e) => e.name === 'redis');
    if (redis && !redis.done) {
      say('stopping redis (it writes its AOF and exits)...');
      await stopOne(redis, REDIS_STOP_DEADLINE_MS);
    }
    rmSync(STACK_FILE, { force: true });
    say(exitCode === 0 ? 'stopped.' : 'stopped (with errors).');
    process.exit(exitCode);
  })();
  return stopped;
}

let signals = 0;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    signals++;
    if (signals === 1) {
      say(`${sig}: stopping (send it again to kill everything at once)`);
      void stopAll();
    } else {
      fail('second signal: SIGKILL to every process');
      for (const e of started) if (!e.done) e.child.kill('SIGKILL');
      process.exit(130);
    }
  });
}
// Whatever happens to this script, leave nothing behind.
process.on('exit', () => {
  for (const e of started) {
    if (!e.done) {
      try {
        e.child.kill('SIGKILL');
      } catch {}
    }
  }
});

async function waitUntil(label, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (stopping) throw new Error('stopping');
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${label} not ready within ${timeoutMs / 1000} s`);
}

async function httpOk(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

// ---- Redis -----------------------------------------------------------------------------------------------

async function startRedis() {
  if (env.REDIS_URL || env.REDIS_CLUSTER_NODES) {
    say(`using ${env.REDIS_CLUSTER_NODES ? `Redis Cluster ${env.REDIS_CLUSTER_NODES}` : env.REDIS_URL}`);
    return env.REDIS_URL;
  }
  if (!onPath('redis-server')) {
    fail(
      [
        'no REDIS_URL is set and no `redis-server` is on the PATH. Either:',
        '  - install Redis:  sudo apt-get install -y redis-server   (Debian/Ubuntu)',
        '                    brew install redis                     (macOS)',
        '  - point Bullpen at one:  REDIS_URL=redis://host:6379 pnpm start',
        '  - or run everything in containers:  docker compose up --build',
      ].join('\n'),
    );
    process.exit(1);
  }
  mkdirSync(REDIS_DIR, { recursive: true });
  const pidFile = path.join(REDIS_DIR, 'redis.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (pid && pidAlive(pid)) {
      fail(`another redis-server (pid ${pid}) is using ${path.relative(ROOT, REDIS_DIR)}: stop it first.`);
      process.exit(1);
    }
  }
  const wanted = Number(env.REDIS_PORT || 6390);
  const port = (await portFree(wanted)) ? wanted : await freePort();
  if (port !== wanted) say(`port ${wanted} is taken: redis-server uses ${port}`);
  // biome-ignore format: one option per line
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', REDIS_DIR,
    '--pidfile', pidFile,
    '--appendonly', 'yes',
    '--appendfsync', 'everysec',
    '--maxmemory-policy', 'noeviction',
    '--daemonize', 'no',
  ];
  start('redis', 'redis-server', args, { cwd: REDIS_DIR, env });
  await waitUntil(`redis-server on port ${port}`, () => redisPing(port), 60_000);
  return `redis://127.0.0.1:${port}`;
}

// ---- dashboard credentials --------------------------------------------------------------------------------

/** The local dashboard user, made once: a random password, its scrypt hash (by the dashboard's own code). */
function dashboardCredentials() {
  if (existsSync(CREDENTIALS)) {
    try {
      const c = JSON.parse(readFileSync(CREDENTIALS, 'utf8'));
      if (c.username && c.password && c.usersEntry && c.sessionSecret) return c;
    } catch {}
    say(`${path.relative(ROOT, CREDENTIALS)} is malformed: making a new one`);
  }
  const username = 'admin';
  const password = randomBytes(12).toString('base64url');
  const dashboardDir = path.join(ROOT, 'apps/dashboard');
  // apps/dashboard/src/hash-password.ts prints `name:role:scrypt...` (the password comes from the environment).
  const r = spawnSync(
    process.execPath,
    ['--conditions=@bullpen/source', '--import', 'tsx', 'src/hash-password.ts', username, 'operator'],
    {
      cwd: dashboardDir,
      env: { ...env, DASHBOARD_PASSWORD: password },
      encoding: 'utf8',
    },
  );
  const usersEntry = r.stdout?.trim();
  if (r.status !== 0 || !/^admin:operator:scrypt\./.test(usersEntry ?? '')) {
    fail(`cannot hash the dashboard password: ${r.stderr || r.error?.message || 'no output'}`);
    process.exit(1);
  }
  const creds = { username, password, usersEntry, sessionSecret: randomBytes(36).toString('base64url') };
  mkdirSync(DATA, { recursive: true });
  writeFileSync(CREDENTIALS, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  say(`made a local dashboard user in ${path.relative(ROOT, CREDENTIALS)} (git-ignored)`);
  return creds;
}

// ---- main -----------------------------------------------------------------------------------------------

const creds = env.DASHBOARD_USERS || env.DASHBOARD_AUTH_DISABLED === 'true' ? undefined : dashboardCredentials();
const dashboardLogin = creds
  ? { DASHBOARD_USERS: creds.usersEntry, DASHBOARD_SESSION_SECRET: creds.sessionSecret }
  : {};
checkConfig({ ...env, ...dashboardLogin });
const API_PORT = Number(env.API_PORT || 3000);
const WORKER_HTTP_PORT = Number(env.WORKER_HTTP_PORT || 3001);
const DASHBOARD_PORT = Number(env.DASHBOARD_PORT || 3002);
const API_HOST = env.API_HOST || '127.0.0.1';
const DASHBOARD_HOST = env.DASHBOARD_HOST || '127.0.0.1';
const local = (host) => (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host);

async function main() {
  for (const [name, port, host, variable] of [
    ['api', API_PORT, API_HOST, 'API_PORT'],
    ['worker', WORKER_HTTP_PORT, env.WORKER_HTTP_HOST || '127.0.0.1', 'WORKER_HTTP_PORT'],
    ['dashboard', DASHBOARD_PORT, DASHBOARD_HOST, 'DASHBOARD_PORT'],
  ]) {
    if (port !== 0 && !(await portFree(port, host))) {
      fail(`port ${port} (${name}) is in use: stop what uses it, or set ${variable}=<another port>.`);
      process.exit(1);
    }
  }
  const redisUrl = await startRedis();
  const storageDir = env.STORAGE_DIR ? path.resolve(env.STORAGE_DIR) : path.join(DATA, 'storage');
  mkdirSync(storageDir, { recursive: true });

  const shared = {
    ...env,
    ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
    STORAGE_DIR: storageDir,
    API_PORT: String(API_PORT),
    WORKER_HTTP_PORT: String(WORKER_HTTP_PORT),
    DASHBOARD_PORT: String(DASHBOARD_PORT),
    // pino-pretty colours its output when the terminal can show them.
    ...(color ? { FORCE_COLOR: env.FORCE_COLOR ?? '1' } : {}),
  };
  const dashboardEnv = { ...shared, ...dashboardLogin };
  const app = (name, extra = shared) =>
    start(name, process.execPath, ['--conditions=@bullpen/source', '--import', 'tsx', 'src/main.ts'], {
      cwd: path.join(ROOT, 'apps', name),
      env: extra,
    });
  app('api');
  app('worker');
  app('dashboard', dashboardEnv);

  const apiUrl = `http://${local(API_HOST)}:${API_PORT}`;
  const dashboardUrl = `http://${local(DASHBOARD_HOST)}:${DASHBOARD_PORT}`;
  await Promise.all([
    waitUntil('api', () => httpOk(`${apiUrl}/readyz`), 90_000),
    WORKER_HTTP_PORT === 0
      ? Promise.resolve()
      : waitUntil(
          'worker',
          () => httpOk(`http://${local(env.WORKER_HTTP_HOST || '127.0.0.1')}:${WORKER_HTTP_PORT}/healthz`),
          90_000,
        ),
    waitUntil('dashboard', () => httpOk(`${dashboardUrl}/healthz`), 90_000),
  ]);
  const lines = [
    '',
    paint('32;1', '  Bullpen is up.'),
    '',
    `  Upload page   ${paint('1', `${apiUrl}/`)}`,
    `  API docs      ${apiUrl}/docs`,
    `  Dashboard     ${paint('1', `${dashboardUrl}/`)}`,
    creds
      ? `                user ${paint('1', creds.username)}  password ${paint('1', creds.password)}  (from ${path.relative(ROOT, CREDENTIALS)})`
      : '                users from DASHBOARD_USERS',
    `  Redis         ${redisUrl ?? env.REDIS_CLUSTER_NODES}`,
    `  Storage       ${path.relative(ROOT, storageDir) || storageDir}`,
    '',
    `  Try it:  npm run demo    More workers:  npm run worker (in another terminal)    Stop: Ctrl-C`,
    '',
  ];
  writeFileSync(
    STACK_FILE,
    `${JSON.stringify({ REDIS_URL: redisUrl, STORAGE_DIR: storageDir, BULLPEN_PREFIX: env.BULLPEN_PREFIX || 'bullpen', pid: process.pid }, null, 2)}\n`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err) => {
  if (stopping) return;
  fail(err.message);
  exitCode = 1;
  void stopAll();
});
