import type { Job, Queue } from 'bullmq';
import { createJobAdmin } from './admin.ts';
import type { RedisClient } from './connection.ts';
import type { JobDefinition, Registry } from './define.ts';
import { envelopeSchema } from './envelope.ts';
import { formatIssues, JobErrorCode } from './errors.ts';
import { checkPayload } from './payload-versions.ts';
import { QueueSet } from './queues.ts';

/** The states whose jobs a worker will still parse: what `checkQueuedPayloads` reads. */
export const PENDING_STATES = ['waiting', 'delayed', 'prioritized'] as const;
export type PendingState = (typeof PENDING_STATES)[number];

export type PayloadVerdict =
  | {
      ok: true;
      def: JobDefinition;
      payload: unknown;
      /** The payload's version was older than the job's: it fits once migrated (as a worker would migrate it). */
      migrated: boolean;
    }
  | {
      ok: false;
      code:
        | typeof JobErrorCode.JOB_PAYLOAD_INVALID
        | typeof JobErrorCode.JOB_UNKNOWN
        | typeof JobErrorCode.JOB_PAYLOAD_TOO_NEW
        | typeof JobErrorCode.JOB_PAYLOAD_MIGRATION_FAILED;
      issue: string;
    };

/**
 * Parses one queued payload of job `name` with today's registry, as a worker would before its handler runs:
 * migrated first from `version` (the envelope's `meta.v`, absent: 1) with the job's `migrate` steps
 * (`migratePayload`), then parsed. The one place where "does this payload still fit" is decided for `check` and
 * `letters show`. `issue` is the first problem, `path: message`.
 */
export function parseQueuedPayload(
  registry: Registry,
  name: string,
  payload: unknown,
  queue?: string,
  version = 1,
): PayloadVerdict {
  const def = (registry.jobs as Record<string, JobDefinition | undefined>)[name];
  if (!def) return { ok: false, code: JobErrorCode.JOB_UNKNOWN, issue: `no job "${name}" in today's registry` };
  if (queue !== undefined && def.queue !== queue) {
    return {
      ok: false,
      code: JobErrorCode.JOB_UNKNOWN,
      issue: `job "${name}" runs on queue "${def.queue}", not "${queue}"`,
    };
  }
  const checked = checkPayload(def, payload, version);
  if (!checked.ok) {
    const issue = checked.issues ? formatIssues(checked.issues.slice(0, 1)) : checked.reason;
    return { ok: false, code: checked.code as Extract<PayloadVerdict, { ok: false }>['code'], issue };
  }
  return { ok: true, def, payload: checked.payload, migrated: checked.migrated };
}

/** Payloads of one job and version that fit today's schema once migrated. */
export interface PayloadMigrationCount {
  name: string;
  fromVersion: number;
  toVersion: number;
  /** Queued jobs a worker would migrate, and dead letters a replay would. */
  jobs: number;
  letters: number;
}

export interface PayloadCheckSample {
  queue: string;
  id: string;
  /** `waiting`, `delayed`, `prioritized`, or `dead-letter`. */
  state: PendingState | 'dead-letter';
}

/** Payloads that fail the same way: one job name, one code, one first issue. */
export interface PayloadCheckGroup {
  name: string;
  code: string;
  issue: string;
  count: number;
  /** Of `count`: queued jobs (a worker would dead-letter them) and dead letters (a replay would refuse them). */
  jobs: number;
  letters: number;
  /** At most five. */
  samples: PayloadCheckSample[];
}

export interface PayloadCheckReport {
  /** True when every payload read fits today's schemas. */
  ok: boolean;
  scanned: { jobs: number; letters: number };
  invalid: number;
  groups: PayloadCheckGroup[];
  /** Of the payloads that fit: how many only once migrated from an older version. */
  migrated: number;
  /** Those, by job and version. */
  migrations: PayloadMigrationCount[];
  /** Queues (and states) read only up to the bound: more may be there. */
  truncated: { queue: string; state: PendingState | 'dead-letter' }[];
}

export interface PayloadCheckOptions {
  connection: RedisClient;
  prefix: string;
  /** At most this many jobs per queue and state, and letters per queue. Default 100,000. */
  maxPerQueue?: number;
  /** Jobs read per page. Default 500. */
  pageSize?: number;
}

const MAX_SAMPLES = 5;
/** listDeadLetters reads at most this many letters per queue. */
const LETTER_SCAN_MAX = 20_000;

/**
 * Parses every waiting, delayed and prioritized job, and every dead letter, of the registry's queues with today's
 * schemas, and groups what would fail (a worker dead-letters such a job with `JOB_PAYLOAD_INVALID` or
 * `JOB_UNKNOWN`; a replay refuses such a letter). A deploy gate for schema changes. Reads in pages, bounded by
 * `maxPerQueue`; jobs that move between states while it reads may be missed or read twice.
 */
export async function checkQueuedPayloads(registry: Registry, opts: PayloadCheckOptions): Promise<PayloadCheckReport> {
  const max = opts.maxPerQueue ?? 100_000;
  const page = opts.pageSize ?? 500;
  const queues = new QueueSet(opts.connection, opts.prefix);
  const admin = createJobAdmin(registry, { connection: opts.connection, prefix: opts.prefix });
  const groups = new Map<string, PayloadCheckGroup>();
  const truncated: PayloadCheckReport['truncated'] = [];
  const scanned = { jobs: 0, letters: 0 };
  let invalid = 0;
  let migrated = 0;
  const migrations = new Map<string, PayloadMigrationCount>();

  const record = (name: string, verdict: PayloadVerdict, sample: PayloadCheckSample, version = 1) => {
    if (verdict.ok) {
      if (!verdict.migrated) return;
      migrated++;
      const key = `${name}\u0000${version}`;
      let m = migrations.get(key);
      if (!m) {
        m = { name, fromVersion: version, toVersion: verdict.def.version, jobs: 0, letters: 0 };
        migrations.set(key, m);
      }
      if (sample.state === 'dead-letter') m.letters++;
      else m.jobs++;
      return;
    }
    invalid++;
    const key = `${name}\u0000${verdict.code}\u0000${verdict.issue}`;
    let g = groups.get(key);
    if (!g) {
      g = { name, code: verdict.code, issue: verdict.issue, count: 0, jobs: 0, letters: 0, samples: [] };
      groups.set(key, g);
    }
    g.count++;
    if (sample.state === 'dead-letter') g.letters++;
    else g.jobs++;
    if (g.samples.length < MAX_SAMPLES) g.samples.push(sample);
  };

  const readState = async (queue: Queue, state: PendingState) => {
    const seen = new Set<string>();
    for (let start = 0; start < max; start += page) {
      const end = Math.min(start + page, max) - 1;
      const jobs = (await queue.getJobs([state], start, end, true)) as (Job | undefined)[];
      for (const job of jobs) {
        if (!job?.id || seen.has(job.id)) continue;
        seen.add(job.id);
        scanned.jobs++;
        const envelope = envelopeSchema.safeParse(job.data);
        const version = envelope.success ? (envelope.data.meta.v ?? 1) : 1;
        const verdict: PayloadVerdict = envelope.success
          ? parseQueuedPayload(registry, job.name, envelope.data.payload, queue.name, version)
          : {
              ok: false,
              code: JobErrorCode.JOB_PAYLOAD_INVALID,
              issue: formatIssues(envelope.error.issues.slice(0, 1)),
            };
        record(job.name, verdict, { queue: queue.name, id: job.id, state }, version);
      }
      if (jobs.length < end - start + 1) return;
    }
    if ((await queue.getJobCountByTypes(state)) > max) truncated.push({ queue: queue.name, state });
  };

  try {
    for (const name of registry.queues) {
      const queue = queues.get(name);
      for (const state of PENDING_STATES) await readState(queue, state);
      const limit = Math.min(max, LETTER_SCAN_MAX);
      const letters = await admin.listDeadLetters({ queue: name, limit });
      if (letters.length >= limit) truncated.push({ queue: name, state: 'dead-letter' });
      for (const entry of letters) {
        scanned.letters++;
        const version = entry.letter.meta?.v ?? 1;
        const verdict = parseQueuedPayload(registry, entry.letter.name, entry.letter.payload, undefined, version);
        record(entry.letter.name, verdict, { queue: entry.deadQueue, id: entry.id, state: 'dead-letter' }, version);
      }
    }
  } finally {
    await admin.close();
    await queues.close();
  }
  const sorted = [...groups.values()].sort((a, b) => b.count - a.count || a.name.localeCompare(b.name));
  const byJob = [...migrations.values()].sort((a, b) => a.name.localeCompare(b.name) || a.fromVersion - b.fromVersion);
  return { ok: invalid === 0, scanned, invalid, groups: sorted, migrated, migrations: byJob, truncated };
}
