import { Redis } from 'ioredis';

export { startRedisServer } from '@bullpen/test-utils';

/** A plain admin client for the bench's own bookkeeping (not the client under test). */
export function adminClient(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 3, lazyConnect: false });
}

/** Parses an `INFO` section into key → value. */
export function parseInfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

/** Redis's own CPU time so far (used_cpu_sys + used_cpu_user), in seconds. */
export async function redisCpuSeconds(r: Redis): Promise<number> {
  const info = parseInfo(await r.info('cpu'));
  return Number(info.get('used_cpu_sys') ?? 0) + Number(info.get('used_cpu_user') ?? 0);
}

/** Calls per command (`cmdstat_evalsha` → `evalsha`), from INFO commandstats. */
export async function commandCalls(r: Redis): Promise<Map<string, number>> {
  const info = parseInfo(await r.info('commandstats'));
  const out = new Map<string, number>();
  for (const [k, v] of info) {
    if (!k.startsWith('cmdstat_')) continue;
    const m = /calls=(\d+)/.exec(v);
    if (m) out.set(k.slice('cmdstat_'.length), Number(m[1]));
  }
  return out;
}

/** What was called between two `commandCalls` snapshots, per command. */
export function callsBetween(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
}
