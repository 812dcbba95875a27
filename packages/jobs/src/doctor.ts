import type { Cluster } from 'ioredis';
import type { RedisClient } from './connection.ts';
import { inspectRedis, type RedisFinding, type RedisNodeInfo } from './redis-check.ts';

export interface DoctorReport {
  /** False when any finding is an `error`: something would lose jobs or keep Bullpen from running. */
  ok: boolean;
  mode: 'standalone' | 'cluster';
  prefix: string;
  nodes: RedisNodeInfo[];
  /** On a cluster with a hash-tag prefix: the one slot of every key, and the master serving it. */
  slot?: { slot: number; node?: string };
  findings: RedisFinding[];
}

/**
 * The hash tag of a key prefix as Redis Cluster reads it: the text between the first `{` and the first `}`
 * after it, when not empty. Keys sharing a tag share a slot.
 */
export function hashTagOf(prefix: string): string | undefined {
  const open = prefix.indexOf('{');
  if (open < 0) return undefined;
  const close = prefix.indexOf('}', open + 1);
  if (close < 0 || close === open + 1) return undefined;
  return prefix.slice(open + 1, close);
}

type SlotRange = [number, number, [string, number, ...unknown[]], ...unknown[]];

async function slotFinding(
  client: Cluster,
  prefix: string,
): Promise<{ finding: RedisFinding; slot?: number; node?: string }> {
  const tag = hashTagOf(prefix);
  if (!tag) {
    return {
      finding: {
        check: 'cluster-slot',
        level: 'error',
        message:
          `prefix "${prefix}" has no hash tag: a queue's keys spread over many slots, and BullMQ's scripts ` +
          'fail with CROSSSLOT on a cluster',
        fix: `use a prefix with a hash tag, e.g. --prefix '{${prefix}}' (BULLPEN_PREFIX='{${prefix}}')`,
      },
    };
  }
  const slot = Number(await client.cluster('KEYSLOT', prefix));
  const ranges = (await client.cluster('SLOTS')) as unknown as SlotRange[];
  const range = ranges.find(([start, end]) => slot >= start && slot <= end);
  const node = range ? `${range[2][0]}:${range[2][1]}` : undefined;
  if (!node) {
    return {
      slot,
      finding: {
        check: 'cluster-slot',
        level: 'error',
        message: `slot ${slot} of prefix "${prefix}" is served by no master: the cluster cannot take these jobs`,
        fix: 'assign the slot (redis-cli --cluster fix <node>)',
      },
    };
  }
  return {
    slot,
    node,
    finding: {
      check: 'cluster-slot',
      level: 'ok',
      node,
      message: `every key of prefix "${prefix}" is in slot ${slot} (hash tag {${tag}}), served by ${node}`,
    },
  };
}

/**
 * Everything `bullpen doctor` reports: `inspectRedis` on every server, plus, on a cluster, whether the prefix
 * keeps every key in one slot and which master serves it. Throws `RedisNotReadyError` when Redis does not answer.
 */
export async function doctor(client: RedisClient, opts: { prefix: string }): Promise<DoctorReport> {
  const inspection = await inspectRedis(client);
  const report: DoctorReport = {
    ok: true,
    mode: inspection.mode,
    prefix: opts.prefix,
    nodes: inspection.nodes,
    findings: inspection.findings,
  };
  if (inspection.mode === 'cluster') {
    const { finding, slot, node } = await slotFinding(client as Cluster, opts.prefix);
    report.findings.push(finding);
    if (slot !== undefined) report.slot = { slot, ...(node ? { node } : {}) };
  }
  report.ok = report.findings.every((f) => f.level !== 'error');
  return report;
}
