import type { RedisClient } from './connection.ts';
import { frameworkKeys } from './keys.ts';

const DONE = '__done';
const STEP = 'step:';

export interface LedgerState {
  /** The stored result when the work is marked done. */
  done?: { result: unknown };
  steps: Map<string, unknown>;
}

/**
 * The idempotency ledger: one Redis hash per ledger id holding each finished step's JSON result and,
 * once the job completes, its result. Entries live `ttlSeconds` (refreshed on every write).
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
    await this.write(id, STEP + step, result);
  }

  async markDone(id: string, result: unknown): Promise<void> {
    await this.write(id, DONE, result);
  }

  private async write(id: string, field: string, value: unknown): Promise<void> {
    const key = this.keys.ledger(id);
    const replies = await this.client
      .multi()
      .hset(key, field, JSON.stringify(value ?? null))
      .expire(key, this.ttlSeconds)
      .exec();
    const failed = replies?.find(([err]) => err)?.[0];
    if (!replies || failed) throw failed ?? new Error('ledger write aborted');
  }
}

function parse(value: string): unknown {
  return JSON.parse(value);
}
