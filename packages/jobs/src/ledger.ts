import type { RedisClient } from './connection.ts';
import { frameworkKeys } from './keys.ts';

const DONE = '__done';
const STEP = 'step:';
/** `meta:<step>` → `{ at }`: when the step finished. Beside its result, so older entries (without it) still read. */
const STEP_META = 'meta:';
/** `fail:<jobId>:<attempt>` → an AttemptFailure: when an attempt failed and in which step. */
const FAIL = 'fail:';

export interface LedgerState {
  /** The stored result when the work is marked done. */
  done?: { result: unknown };
  steps: Map<string, unknown>;
}

/** A finished step as the ledger holds it. */
export interface StepRecord {
  name: string;
  /** When it finished (ISO); absent for steps stored before the ledger kept times. */
  at?: string;
  /** Size of the stored JSON result, in bytes. */
  bytes: number;
}

/** A failed attempt of a job that uses this ledger (a replay shares its source job's ledger). */
export interface AttemptFailure {
  jobId: string;
  /** 1 for the first try of that job. */
  attempt: number;
  /** When the attempt failed (ISO). */
  at: string;
  /** When the attempt started (ISO), when known. */
  startedAt?: string;
  /** The step running when the handler threw; absent when it threw outside any step. */
  step?: string;
  code?: string;
  name: string;
  message: string;
}

/** What a ledger record says about the work so far, for people (dashboards, the CLI). */
export interface LedgerTimeline {
  /** The work is marked done: a job with this ledger completes at once with the stored result. */
  done: boolean;
  /** Finished steps, in the order they finished (steps without a time last). */
  steps: StepRecord[];
  /** Failed attempts, oldest first. */
  failures: AttemptFailure[];
}

const MAX_MESSAGE = 1000;

/**
 * The idempotency ledger: one Redis hash per ledger id holding each finished step's JSON result (and when it
 * finished), each failed attempt (when, at which step) and, once the job completes, its result. Entries live
 * `ttlSeconds` (refreshed on every write).
 */
export class Ledger {
  private readonly keys: ReturnType<typeof frameworkKeys>;
  constructor(
    private readonly client: RedisClient,
    prefix: string,
    private readonly ttlSeconds: number,
  ) {
    this.keys = frameworkKeys(prefix);
  }

  async load(id: string): Promise<LedgerState> {
    const raw = await this.client.hgetall(this.keys.ledger(id));
    const steps = new Map<string, unknown>();
    let done: LedgerState['done'];
    for (const [field, value] of Object.entries(raw)) {
      if (field === DONE) done = { result: parse(value) };
      else if (field.startsWith(STEP)) steps.set(field.slice(STEP.length), parse(value));
    }
    return done ? { done, steps } : { steps };
  }

  async saveStep(id: string, step: string, result: unknown): Promise<void> {
    await this.write(id, [
      STEP + step,
      JSON.stringify(result ?? null),
      STEP_META + step,
      JSON.stringify({ at: new Date().toISOString() }),
    ]);
  }

  async markDone(id: string, result: unknown): Promise<void> {
    await this.write(id, [DONE, JSON.stringify(result ?? null)]);
  }

  /** Records a failed attempt, so that a dead letter can show when each attempt failed and in which step. */
  async recordFailure(id: string, failure: AttemptFailure): Promise<void> {
    const f = { ...failure, message: failure.message.slice(0, MAX_MESSAGE) };
    await this.write(id, [`${FAIL}${f.jobId}:${f.attempt}`, JSON.stringify(f)]);
  }

  /** The steps and failed attempts recorded under a ledger id (empty once the record has expired). */
  async timeline(id: string): Promise<LedgerTimeline> {
    const raw = await this.client.hgetall(this.keys.ledger(id));
    const steps: StepRecord[] = [];
    const failures: AttemptFailure[] = [];
    for (const [field, value] of Object.entries(raw)) {
      if (field.startsWith(STEP)) {
        const name = field.slice(STEP.length);
        const meta = lenient(raw[STEP_META + name]) as { at?: unknown } | undefined;
        steps.push({
          name,
          ...(typeof meta?.at === 'string' ? { at: meta.at } : {}),
          bytes: Buffer.byteLength(value),
        });
      } else if (field.startsWith(FAIL)) {
        const f = lenient(value) as AttemptFailure | undefined;
        if (f && typeof f.jobId === 'string' && typeof f.at === 'string') failures.push(f);
      }
    }
    const byTime = (a: { at?: string }, b: { at?: string }) =>
      a.at === undefined ? (b.at === undefined ? 0 : 1) : b.at === undefined ? -1 : a.at.localeCompare(b.at);
    return { done: DONE in raw, steps: steps.sort(byTime), failures: failures.sort(byTime) };
  }

  private async write(id: string, fieldsAndValues: string[]): Promise<void> {
    const key = this.keys.ledger(id);
    const replies = await this.client
      .multi()
      .hset(key, ...fieldsAndValues)
      .expire(key, this.ttlSeconds)
      .exec();
    const failed = replies?.find(([err]) => err)?.[0];
    if (!replies || failed) throw failed ?? new Error('ledger write aborted');
  }
}

function parse(value: string): unknown {
  return JSON.parse(value);
}

/** For records people read: a damaged entry is skipped, not fatal. */
function lenient(value: string | undefined): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}
