/** Something with a deadline: `expire` is called once, at or shortly after `deadline` (ms since the epoch). */
export interface Expiring {
  readonly deadline: number;
  expire(): void;
}

/**
 * One timer for every active job's deadline, instead of a `setTimeout` and `clearTimeout` per job (about
 * 0.7 µs and a closure each). It ticks only while something is watched; a deadline fires within one tick.
 */
export class DeadlineSweeper {
  private readonly watched = new Set<Expiring>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly tickMs: number) {}

  watch(item: Expiring): void {
    this.watched.add(item);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), this.tickMs);
      this.timer.unref();
    }
  }

  /** The timer stays until a tick finds nothing watched: a busy worker does not start one per job. */
  unwatch(item: Expiring): void {
    this.watched.delete(item);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private sweep(): void {
    const now = Date.now();
    for (const item of this.watched) {
      if (item.deadline <= now) {
        this.watched.delete(item);
        item.expire();
      }
    }
    if (this.watched.size === 0) this.stop();
  }
}

/** A tick that keeps the shortest timeout within about 5 % of its length, between 10 ms and 1 s. */
export function sweepTickFor(timeoutsMs: readonly number[]): number {
  const shortest = Math.min(...timeoutsMs, 20_000);
  return Math.max(10, Math.min(1000, Math.floor(shortest / 20)));
}
