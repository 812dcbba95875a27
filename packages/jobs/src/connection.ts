import { Cluster, Redis, type RedisOptions } from 'ioredis';

export type RedisClient = Redis | Cluster;

/**
 * What the connection is for:
 * - `worker`: blocking commands; retries forever (`maxRetriesPerRequest: null`, BullMQ requires it).
 * - `producer`: a request path; fails fast so the caller can answer 503 instead of hanging.
 * - `admin`: dashboards, checks and scripts; a few retries, and a command Redis does not answer in 5 s fails
 *   (a hung Redis makes a page answer 503 instead of hanging it).
 */
export type ConnectionRole = 'worker' | 'producer' | 'admin';

/** Where Redis is. */
export interface RedisTarget {
  /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
  url: string;
  /** `host:port` seed nodes of a Redis Cluster; the URL then gives only the credentials and TLS. */
  clusterNodes?: readonly string[];
}

function roleOptions(role: ConnectionRole): RedisOptions {
  switch (role) {
    case 'worker':
      return { maxRetriesPerRequest: null, enableOfflineQueue: true };
    case 'producer':
      return { maxRetriesPerRequest: 1, enableOfflineQueue: true, connectTimeout: 5000, commandTimeout: 10_000 };
    case 'admin':
      return { maxRetriesPerRequest: 3, enableOfflineQueue: true, connectTimeout: 5000, commandTimeout: 5000 };
    default: {
      const never: never = role;
      throw new Error(`unknown role ${String(never)}`);
    }
  }
}

/** Opens a connection to Redis (a URL) or Redis Cluster, tuned for its role. */
export function createRedisConnection(target: RedisTarget | string, role: ConnectionRole): RedisClient {
  const t: RedisTarget = typeof target === 'string' ? { url: target } : target;
  const clusterNodes = t.clusterNodes ?? [];
  const base: RedisOptions = {
    ...roleOptions(role),
    // Back off to at most 2 s between reconnects, forever: a restarted Redis is picked up again.
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    connectionName: `bullpen-${role}`,
  };
  if (clusterNodes.length > 0) {
    const nodes = clusterNodes.map((n) => {
      const [host, port] = n.split(':');
      return { host: host!, port: Number(port) };
    });
    const url = new URL(t.url);
    return new Cluster(nodes, {
      redisOptions: {
        ...base,
        ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
        username: url.username || undefined,
        password: url.password ? decodeURIComponent(url.password) : undefined,
      },
      maxRedirections: 16,
      enableOfflineQueue: base.enableOfflineQueue,
      clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
    });
  }
  return new Redis(t.url, base);
}

/** Closes a connection: QUIT when it is up, a plain disconnect otherwise. Never throws. */
export async function closeRedis(client: RedisClient): Promise<void> {
  try {
    if (client.status === 'ready') await client.quit();
    else client.disconnect();
  } catch {
    client.disconnect();
  }
}

/** The URL without its password, for messages and logs. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
