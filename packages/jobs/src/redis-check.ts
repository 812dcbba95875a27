import type { Redis } from 'ioredis';
import type { RedisClient } from './connection.ts';
import { BullpenError, JobErrorCode } from './errors.ts';

/** Thrown when Redis cannot safely hold Bullpen's jobs. */
export class RedisNotReadyError extends BullpenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(JobErrorCode.REDIS_NOT_READY, message, options);
  }
}

const MIN_VERSION = [6, 2, 0];
const POLICY_FIX = 'redis-cli CONFIG SET maxmemory-policy noeviction, and "maxmemory-policy noeviction" in redis.conf';

function parseInfo(info: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of info.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

function versionAtLeast(v: string, min: number[]): boolean {
  const parts = v.split('.').map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < min.length; i++) {
    const a = parts[i] ?? 0;
    const b = min[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

/**
 * Checks that Redis is reachable, at least 6.2, and never evicts keys (`maxmemory-policy noeviction`):
 * BullMQ silently loses jobs when Redis evicts. Throws `RedisNotReadyError` saying how to fix it.
 */
export async function checkRedis(client: RedisClient): Promise<{ version: string; policy: string }> {
  let info: Record<string, string>;
  // What the connection itself saw (ECONNREFUSED, a bad password) says more than the ping's retries-spent error.
  let lastError: Error | undefined;
  const onError = (err: Error) => {
    lastError = err;
  };
  client.on('error', onError);
  try {
    // A cluster client knows its masters only once connected: the ping waits for that.
    await client.ping();
    const nodes = 'nodes' in client && typeof client.nodes === 'function' ? client.nodes('master') : [client];
    if (nodes.length === 0) throw new Error('the cluster reports no masters');
    const texts = await Promise.all(nodes.map((n) => (n as Redis).info()));
    info = parseInfo(texts.join('\n'));
    // Every master must pass; report the first that does not.
    for (const text of texts) {
      const one = parseInfo(text);
      if (one.maxmemory_policy && one.maxmemory_policy !== 'noeviction') {
        info = one;
        break;
      }
    }
  } catch (err) {
    throw new RedisNotReadyError(`Redis is not reachable (${(lastError ?? (err as Error)).message})`, { cause: err });
  } finally {
    client.off('error', onError);
  }
  const version = info.redis_version ?? '0';
  if (!versionAtLeast(version, MIN_VERSION)) {
    throw new RedisNotReadyError(`Redis ${version} is too old: Bullpen needs 6.2 or newer.`);
  }
  const policy = info.maxmemory_policy ?? 'unknown';
  if (policy !== 'noeviction') {
    throw new RedisNotReadyError(
      `Redis maxmemory-policy is "${policy}": under memory pressure it would evict queued jobs. ` +
        `Set it to noeviction (${POLICY_FIX}), or set REDIS_CHECK=false to start anyway.`,
    );
  }
  return { version, policy };
}

/** One thing `inspectRedis` looked at, and how it stands. */
export interface RedisFinding {
  check: 'version' | 'maxmemory-policy' | 'maxmemory' | 'persistence' | 'cluster-slot';
  /** `error`: jobs can be lost, or Bullpen cannot run; `warn`: a crash may lose recent jobs. */
  level: 'ok' | 'warn' | 'error';
  /** `host:port` of the server it concerns. */
  node?: string;
  message: string;
  /** How to fix it, for `warn` and `error`. */
  fix?: string;
}

/** What one server (a standalone Redis, or a cluster master) reports. */
export interface RedisNodeInfo {
  node: string;
  version: string;
  maxmemoryPolicy: string;
  maxmemoryBytes: number;
  usedMemoryBytes: number;
  aofEnabled: boolean;
  /** `always`, `everysec` or `no`; undefined when CONFIG GET is refused (managed services rename it). */
  appendfsync?: string;
  /** RDB save points (`3600 1 300 100`), `''` for none; undefined when CONFIG GET is refused. */
  save?: string;
}

export interface RedisInspection {
  mode: 'standalone' | 'cluster';
  nodes: RedisNodeInfo[];
  findings: RedisFinding[];
}

const PERSISTENCE_FIX =
  'redis-cli CONFIG SET appendonly yes && redis-cli CONFIG SET appendfsync everysec, and ' +
  '"appendonly yes" and "appendfsync everysec" in redis.conf';

async function configValue(node: Redis, name: string): Promise<string | undefined> {
  try {
    const reply = (await node.config('GET', name)) as string[];
    return reply[1];
  } catch {
    return undefined;
  }
}

function nodeFindings(n: RedisNodeInfo, info: Record<string, string>): RedisFinding[] {
  const node = n.node;
  const out: RedisFinding[] = [];
  out.push(
    versionAtLeast(n.version, MIN_VERSION)
      ? { check: 'version', level: 'ok', node, message: `Redis ${n.version} (6.2 or newer)` }
      : {
          check: 'version',
          level: 'error',
          node,
          message: `Redis ${n.version} is too old: Bullpen needs 6.2 or newer`,
          fix: 'upgrade Redis to 6.2 or newer (7.x recommended)',
        },
  );
  out.push(
    n.maxmemoryPolicy === 'noeviction'
      ? { check: 'maxmemory-policy', level: 'ok', node, message: 'maxmemory-policy noeviction: no job is ever evicted' }
      : {
          check: 'maxmemory-policy',
          level: 'error',
          node,
          message: `maxmemory-policy is "${n.maxmemoryPolicy}": under memory pressure Redis evicts queued jobs silently`,
          fix: POLICY_FIX,
        },
  );
  if (n.maxmemoryBytes > 0) {
    const share = n.usedMemoryBytes / n.maxmemoryBytes;
    const mb = (b: number) => `${Math.round(b / 1048576)} MB`;
    out.push({
      check: 'maxmemory',
      level: share > 0.8 ? 'warn' : 'ok',
      node,
      message:
        `${mb(n.usedMemoryBytes)} of maxmemory ${mb(n.maxmemoryBytes)} used (${Math.round(share * 100)} %); ` +
        'at the limit Redis refuses writes and enqueues fail with QUEUE_UNAVAILABLE',
      ...(share > 0.8 ? { fix: 'raise maxmemory (CONFIG SET maxmemory ...), or drain or trim the queues' } : {}),
    });
  }
  if (info.aof_last_write_status && info.aof_last_write_status !== 'ok') {
    out.push({
      check: 'persistence',
      level: 'error',
      node,
      message: `AOF writes are failing (aof_last_write_status:${info.aof_last_write_status}): Redis refuses writes`,
      fix: 'look at the Redis log: usually a full disk or a read-only folder',
    });
  }
  if (n.aofEnabled) {
    if (n.appendfsync === 'no') {
      out.push({
        check: 'persistence',
        level: 'warn',
        node,
        message:
          'AOF on with appendfsync no: the kernel decides when to write, a machine crash loses about 30 s of jobs',
        fix: 'redis-cli CONFIG SET appendfsync everysec, and "appendfsync everysec" in redis.conf',
      });
    } else {
      const fsync = n.appendfsync ?? 'unknown (CONFIG GET refused)';
      out.push({
        check: 'persistence',
        level: 'ok',
        node,
        message:
          n.appendfsync === 'always'
            ? 'AOF on, appendfsync always: nothing acknowledged is lost'
            : `AOF on, appendfsync ${fsync}: a machine crash loses at most about 1 s of jobs`,
      });
    }
  } else if (n.save === undefined) {
    out.push({
      check: 'persistence',
      level: 'warn',
      node,
      message: 'AOF off, and the RDB save points cannot be read (CONFIG GET refused): a crash may lose minutes of jobs',
      fix: PERSISTENCE_FIX,
    });
  } else if (n.save.trim() === '') {
    out.push({
      check: 'persistence',
      level: 'error',
      node,
      message: 'no persistence (AOF off, no RDB save points): a restart of Redis loses every job',
      fix: PERSISTENCE_FIX,
    });
  } else {
    out.push({
      check: 'persistence',
      level: 'warn',
      node,
      message: `RDB snapshots only (save ${n.save}): a crash loses every job since the last snapshot, often minutes`,
      fix: PERSISTENCE_FIX,
    });
  }
  return out;
}

/**
 * Reports how every server (the one Redis, or each cluster master) stands on what Bullpen relies on: version,
 * `maxmemory-policy`, memory headroom and persistence (AOF and its fsync, RDB save points), each with a fix.
 * Throws `RedisNotReadyError` when Redis does not answer. `checkRedis` is the start-up gate; this is for tools
 * (`bullpen doctor`).
 */
export async function inspectRedis(client: RedisClient): Promise<RedisInspection> {
  let lastError: Error | undefined;
  const onError = (err: Error) => {
    lastError = err;
  };
  client.on('error', onError);
  try {
    try {
      await client.ping();
    } catch (err) {
      throw new RedisNotReadyError(
        `Redis is not reachable (${(lastError ?? (err as Error)).message}). Start one (redis-server) or set REDIS_URL.`,
        { cause: err },
      );
    }
    const isCluster = 'nodes' in client && typeof client.nodes === 'function';
    const servers = isCluster ? (client as { nodes(role: 'master'): Redis[] }).nodes('master') : [client as Redis];
    const nodes: RedisNodeInfo[] = [];
    const findings: RedisFinding[] = [];
    for (const server of servers) {
      const node = `${server.options.host ?? '127.0.0.1'}:${server.options.port ?? 6379}`;
      const info = parseInfo(
        await server.info().catch((err: Error) => {
          throw new RedisNotReadyError(`Redis ${node} does not answer INFO (${err.message})`, { cause: err });
        }),
      );
      const n: RedisNodeInfo = {
        node,
        version: info.redis_version ?? '0',
        maxmemoryPolicy: info.maxmemory_policy ?? 'unknown',
        maxmemoryBytes: Number(info.maxmemory ?? 0) || 0,
        usedMemoryBytes: Number(info.used_memory ?? 0) || 0,
        aofEnabled: info.aof_enabled === '1',
      };
      const appendfsync = await configValue(server, 'appendfsync');
      if (appendfsync !== undefined) n.appendfsync = appendfsync;
      const save = await configValue(server, 'save');
      if (save !== undefined) n.save = save;
      nodes.push(n);
      findings.push(...nodeFindings(n, info));
    }
    return { mode: isCluster ? 'cluster' : 'standalone', nodes, findings };
  } finally {
    client.off('error', onError);
  }
}
