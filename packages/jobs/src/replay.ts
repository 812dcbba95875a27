import type { DeadLetter, DeadLetterEntry } from './dead-letter.ts';
import type { JobDefinition } from './define.ts';
import { type Envelope, ledgerIdFor } from './envelope.ts';
import { JobErrorCode } from './errors.ts';
import { jobOptions } from './job-options.ts';
import type { JobMetrics } from './metrics.ts';
import { checkPayload, versionMeta } from './payload-versions.ts';
import type { QueueSet } from './queues.ts';

export interface ReplayOutcome {
  id: string;
  queue: string;
  name: string;
  status: 'replayed' | 'would-replay' | 'refused';
  /** Why a letter was refused (its payload no longer fits today's schema, an unknown job, ...). */
  reason?: string;
  code?: string;
  /** The new job's id. */
  newJobId?: string;
}

export interface ReplayReport {
  dryRun: boolean;
  replayed: number;
  refused: number;
  outcomes: ReplayOutcome[];
}

const REPLAY_SUFFIX = /-r(\d+)$/;

/**
 * A letter's payload migrated from its version and checked against today's schema of its job, or why it cannot
 * be replayed.
 */
export function checkLetter(
  jobs: Readonly<Record<string, JobDefinition>>,
  letter: DeadLetter,
): { def: JobDefinition; payload: unknown } | { code: string; reason: string } {
  const def = jobs[letter.name];
  if (!def) return { code: JobErrorCode.JOB_UNKNOWN, reason: `no job "${letter.name}" in today's registry` };
  // A letter of an older payload version is migrated first, as a worker would.
  const checked = checkPayload(def, letter.payload, letter.meta?.v ?? 1);
  if (!checked.ok) return { code: checked.code, reason: checked.reason };
  return { def, payload: checked.payload };
}

/**
 * Replays dead letters: each is re-checked against today's schema (a misfit is refused and stays), added as
 * `<source>-r<n>` (the first free n) under today's job options with the same idempotency key, `replayOf` and
 * the source job's ledger (so finished steps are not redone), and removed only once the new job is in Redis.
 */
export class Replayer {
  constructor(
    private readonly jobs: Readonly<Record<string, JobDefinition>>,
    private readonly queues: QueueSet,
    private readonly metrics?: JobMetrics,
  ) {}

  async replayOne(entry: DeadLetterEntry, dryRun: boolean): Promise<ReplayOutcome> {
    const { letter } = entry;
    const base = { id: entry.id, queue: letter.sourceQueue, name: letter.name };
    const checked = checkLetter(this.jobs, letter);
    if ('code' in checked) return { ...base, status: 'refused', ...checked };
    const { def } = checked;
    const newJobId = await this.freeReplayId(def, letter);
    if (dryRun) return { ...base, status: 'would-replay', newJobId };
    const data: Envelope = {
      payload: checked.payload,
      // The payload is today's version now.
      meta: {
        ...withoutVersion(letter.meta),
        ...versionMeta(def),
        ledger: replayLedger(letter),
        replayOf: letter.jobId,
      },
    };
    await this.queues.get(def.queue).add(def.name, data, jobOptions(def, { jobId: newJobId }));
    // Only once the new job is safely in Redis does the letter go. The failed source job stays (until its
    // retention ends): while it is there, a new enqueue of the same key is answered with it, not run again.
    await this.queues.get(entry.deadQueue).remove(entry.id);
    this.metrics?.forJob(def.queue, def.name).replayed.inc();
    return { ...base, status: 'replayed', newJobId };
  }

  /**
   * `<source>-r<n>` with the first n not taken. Only an id this code made (a replay's) loses its suffix: an
   * idempotency key that happens to end in -r5 is left alone.
   */
  private async freeReplayId(def: JobDefinition, letter: DeadLetter): Promise<string> {
    const target = this.queues.get(def.queue);
    const baseId = letter.meta.replayOf ? letter.jobId.replace(REPLAY_SUFFIX, '') : letter.jobId;
    let n = 1;
    while (await target.getJob(`${baseId}-r${n}`)) n++;
    return `${baseId}-r${n}`;
  }
}

function withoutVersion(meta: DeadLetter['meta']): DeadLetter['meta'] {
  const { v: _v, ...rest } = meta;
  return rest;
}

/**
 * The ledger a replay resumes: its source job's, so finished steps are not redone, unless an operator edited
 * the payload: then the old steps may not apply, and it starts a ledger of its own.
 */
export function replayLedger(letter: DeadLetter): string {
  const source = ledgerIdFor(letter.name, letter.sourceQueue, letter.jobId, letter.meta);
  return letter.edits?.length ? `${source}~e${letter.edits.length}` : source;
}

/** The audit entry's outcome and detail for a replay report. */
export function replayAudit(outcomes: readonly ReplayOutcome[]) {
  const replayed = outcomes.filter((o) => o.status !== 'refused').length;
  const refused = outcomes.length - replayed;
  return {
    replayed,
    refused,
    outcome: refused === 0 ? ('ok' as const) : replayed === 0 ? ('refused' as const) : ('partial' as const),
    detail: {
      replayed: outcomes.filter((o) => o.status === 'replayed').map((o) => ({ id: o.id, newJobId: o.newJobId })),
      refused: outcomes
        .filter((o) => o.status === 'refused')
        .map((o) => ({ id: o.id, code: o.code, reason: o.reason })),
    },
  };
}
