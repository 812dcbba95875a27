import type { Queue } from 'bullmq';
import { QueueFullError } from './errors.ts';

export interface BacklogOptions {
  /** Cap per queue (waiting + delayed + prioritized); a number for all, or per queue name. */
  cap: number | Readonly<Record<string, number>>;
  /** How old a cached count may get before it is read again, in ms. Default 250. */
  refreshMs?: number;
  /** Retry-After when no drain rate is known yet, in ms. Default 5000. */
  defaultRetryAfterMs?: number;
}

interface State {
  /** The backlog as this producer knows it: the last read, plus what it admitted since. */
  count: number;
  /** Admitted but not yet known to be in Redis (their adds are under way). */
  inflight: number;
  /** When the count was read. */
  at: number;
  /** Admitted since that read. */
  added: number;
  /** The previous read, to estimate the drain rate. */
  prev?: { count: number; at: number; added: number };
  refreshing?: Promise<void>;
}

/**
 * Back-pressure without a Redis round trip per enqueue: the backlog is read at most every `refreshMs`
 * and counted forward locally in between. Close to the cap (within 10%) it is read fresh, and each
 * admission compares and reserves in one step, so concurrent enqueues of one producer never pass the cap.
 * With several producers it may be overshot by what the others add within one refresh.
 */
export class BacklogGuard {
  private readonly states = new Map<string, State>();
  private readonly refreshMs: number;
  private readonly defaultRetryAfterMs: number;

  constructor(private readonly opts: BacklogOptions) {
    this.refreshMs = opts.refreshMs ?? 250;
    this.defaultRetryAfterMs = opts.defaultRetryAfterMs ?? 5000;
  }

  capOf(queue: string): number {
    const cap = this.opts.cap;
    return typeof cap === 'number' ? cap : (cap[queue] ?? Number.POSITIVE_INFINITY);
  }

  /**
   * Throws (or rejects with) `QueueFullError` when `n` more jobs would pass the cap; otherwise reserves
   * them until `settle` (the add landed) or `release` (it did not). Synchronous while the cached count is
   * fresh and far from the cap: the hot path awaits nothing.
   */
  admit(queue: Queue, n = 1): void | Promise<void> {
    const cap = this.capOf(queue.name);
    if (!Number.isFinite(cap)) return;
    const s = this.states.get(queue.name);
    if (s && !s.refreshing && Date.now() - s.at <= this.refreshMs && s.count + n <= cap * 0.9) {
      this.reserve(s, n);
      return;
    }
    return this.refresh(queue).then((fresh) => {
      // Compare and reserve with nothing awaited in between: concurrent waiters take turns.
      this.assertFits(queue.name, fresh, cap, n);
      this.reserve(fresh, n);
    });
  }

  /** Throws `QueueFullError` when the queue has no room for `n`, reserving nothing. */
  async assertRoom(queue: Queue, n = 1): Promise<void> {
    const cap = this.capOf(queue.name);
    if (!Number.isFinite(cap)) return;
    let s = this.states.get(queue.name);
    if (!s || s.refreshing || Date.now() - s.at > this.refreshMs || s.count + n > cap * 0.9) {
      s = await this.refresh(queue);
    }
    this.assertFits(queue.name, s, cap, n);
  }

  /** The admitted jobs are in Redis now: the next read counts them. */
  settle(queue: string, n = 1): void {
    const s = this.states.get(queue);
    if (s) s.inflight = Math.max(0, s.inflight - n);
  }

  /** Gives back a reservation whose add failed or found the job already there. */
  release(queue: string, n = 1): void {
    const s = this.states.get(queue);
    if (!s) return;
    s.count = Math.max(0, s.count - n);
    s.inflight = Math.max(0, s.inflight - n);
  }

  private reserve(s: State, n: number): void {
    s.count += n;
    s.added += n;
    s.inflight += n;
  }

  private assertFits(queue: string, s: State, cap: number, n: number): void {
    if (s.count + n > cap) throw new QueueFullError(queue, s.count, cap, this.retryAfter(s, cap, n));
  }

  /** Reads the backlog (one read at a time per queue); adds still under way count as backlog. */
  private async refresh(queue: Queue): Promise<State> {
    const old = this.states.get(queue.name);
    if (old?.refreshing) {
      await old.refreshing;
      return this.states.get(queue.name)!;
    }
    const state: State = old ?? { count: 0, inflight: 0, at: 0, added: 0 };
    if (!old) this.states.set(queue.name, state);
    state.refreshing = (async () => {
      const c = await queue.getJobCounts('waiting', 'delayed', 'prioritized');
      const inRedis = (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0);
      if (state.at > 0) state.prev = { count: state.count - state.added, at: state.at, added: state.added };
      state.count = inRedis + state.inflight;
      state.at = Date.now();
      state.added = 0;
    })();
    try {
      await state.refreshing;
    } finally {
      state.refreshing = undefined;
    }
    return state;
  }

  /** How long until the backlog has room for `n`, from the drain rate seen between two reads. */
  private retryAfter(s: State, cap: number, n: number): number {
    if (s.prev) {
      const seconds = (s.at - s.prev.at) / 1000;
      const drained = s.prev.count + s.prev.added - (s.count - s.inflight);
      if (seconds > 0 && drained > 0) {
        const perSecond = drained / seconds;
        const over = s.count + n - cap;
        return Math.min(60_000, Math.max(1000, Math.ceil((over / perSecond) * 1000)));
      }
    }
    return this.defaultRetryAfterMs;
  }
}
