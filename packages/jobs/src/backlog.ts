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
  count: number;
  at: number;
  /** Backlog and time of the previous read, to estimate the drain rate. */
  prev?: { count: number; at: number; added: number };
  added: number;
  refreshing?: Promise<void>;
}

/**
 * Back-pressure without a Redis round trip per enqueue: the backlog is read at most every `refreshMs`
 * and counted forward locally in between. Close to the cap (within 10%) it is read fresh, so the cap is
 * exact for one producer; with several, it may be overshot by what they add within one refresh.
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
   * Throws (or rejects with) `QueueFullError` when `n` more jobs would pass the cap; otherwise reserves them.
   * Synchronous while the cached count is fresh and far from the cap: the hot path awaits nothing.
   */
  admit(queue: Queue, n = 1): void | Promise<void> {
    const cap = this.capOf(queue.name);
    if (!Number.isFinite(cap)) return;
    const s = this.states.get(queue.name);
    if (s && !s.refreshing && Date.now() - s.at <= this.refreshMs && s.count + n <= cap * 0.9) {
      s.count += n;
      s.added += n;
      return;
    }
    return this.check(queue, n).then((fresh) => {
      if (fresh) {
        fresh.count += n;
        fresh.added += n;
      }
    });
  }

  /** Throws `QueueFullError` when `n` more jobs would pass the cap, reserving nothing. */
  async assertRoom(queue: Queue, n = 1): Promise<void> {
    await this.check(queue, n);
  }

  private async check(queue: Queue, n: number): Promise<State | undefined> {
    const cap = this.capOf(queue.name);
    if (!Number.isFinite(cap)) return undefined;
    let s = this.states.get(queue.name);
    if (!s || Date.now() - s.at > this.refreshMs || s.count + n > cap * 0.9) {
      s = await this.refresh(queue);
    }
    if (s.count + n > cap) throw new QueueFullError(queue.name, s.count, cap, this.retryAfter(s, cap, n));
    return s;
  }

  /** Gives back a reservation whose enqueue failed. */
  release(queue: string, n = 1): void {
    const s = this.states.get(queue);
    if (s) s.count = Math.max(0, s.count - n);
  }

  private async refresh(queue: Queue): Promise<State> {
    const old = this.states.get(queue.name);
    if (old?.refreshing) {
      await old.refreshing;
      return this.states.get(queue.name)!;
    }
    const p = (async () => {
      const c = await queue.getJobCounts('waiting', 'delayed', 'prioritized');
      const count = (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0);
      const next: State = { count, at: Date.now(), added: 0 };
      if (old) next.prev = { count: old.count - old.added, at: old.at, added: old.added };
      this.states.set(queue.name, next);
    })();
    if (old) old.refreshing = p;
    else this.states.set(queue.name, { count: 0, at: 0, added: 0, refreshing: p });
    try {
      await p;
    } finally {
      const s = this.states.get(queue.name);
      if (s) s.refreshing = undefined;
    }
    return this.states.get(queue.name)!;
  }

  /** How long until the backlog has room for `n`, from the drain rate seen between two reads. */
  private retryAfter(s: State, cap: number, n: number): number {
    if (s.prev) {
      const seconds = (s.at - s.prev.at) / 1000;
      const drained = s.prev.count + s.prev.added - s.count;
      if (seconds > 0 && drained > 0) {
        const perSecond = drained / seconds;
        const over = s.count + n - cap;
        return Math.min(60_000, Math.max(1000, Math.ceil((over / perSecond) * 1000)));
      }
    }
    return this.defaultRetryAfterMs;
  }
}
