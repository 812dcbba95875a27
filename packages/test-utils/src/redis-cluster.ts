import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './redis-server.ts';

const run = promisify(execFile);

export interface RedisClusterHandle {
  /** `127.0.0.1:port` of every master, for REDIS_CLUSTER_NODES. */
  nodes: string[];
  ports: number[];
  /** The first node's URL (credentials would go here; the test cluster has none). */
  url: string;
  dir: string;
  pids: number[];
  /** Stops every node (SIGTERM, then SIGKILL) and removes the folder. */
  stop(): Promise<void>;
}

export interface StartRedisClusterOptions {
  /** Masters; default 3 (the least `redis-cli --cluster create` accepts). */
  masters?: number;
  /** How long to wait for `cluster_state:ok` on every node. Default 20 s. */
  timeoutMs?: number;
}

async function listening(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.end();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 });
  return stdout;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts a throw-away Redis Cluster on loopback: N masters on free ports, no replicas, nothing saved,
 * `maxmemory-policy noeviction`; resolves once every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(opts: StartRedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const masters = opts.masters ?? 3;
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const dir = mkdtempSync(path.join(tmpdir(), 'bullpen-cluster-'));
  const ports: number[] = [];
  while (ports.length < masters) {
    const p = await freePort();
    // The cluster bus listens on port + 10000: keep both in range and distinct.
    if (p + 10_000 <= 65_535 && !ports.includes(p)) ports.push(p);
  }
  const children: ChildProcess[] = [];
  const stopAll = async () => {
    await Promise.all(children.map(stopChild));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      const child = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-node-timeout',
          '5000',
          '--dir',
          dir,
          '--save',
          '',
          '--appendonly',
          'no',
          '--maxmemory-policy',
          'noeviction',
        ],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      children.push(child);
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', (err) =>
          reject(new Error(`cannot start redis-server (${err.message}): install it (apt-get install -y redis-server)`)),
        );
      });
    }
    const deadline = Date.now() + timeoutMs;
    for (const [i, port] of ports.entries()) {
      while (!(await listening(port))) {
        if (children[i]!.exitCode !== null)
          throw new Error(`redis-server on ${port} exited (${children[i]!.exitCode})`);
        if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const nodes = ports.map((p) => `127.0.0.1:${p}`);
    await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: timeoutMs,
    });
    for (const port of ports) {
      for (;;) {
        const info = await cli(port, 'cluster', 'info').catch(() => '');
        if (/cluster_state:ok/.test(info) && /cluster_slots_assigned:16384/.test(info)) break;
        if (Date.now() > deadline) throw new Error(`cluster node ${port} not ok within ${timeoutMs} ms:\n${info}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return {
      nodes,
      ports,
      url: `redis://${nodes[0]}`,
      dir,
      pids: children.map((c) => c.pid!),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
