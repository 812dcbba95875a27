import { Queue, type Telemetry } from 'bullmq';
import type { RedisClient } from './connection.ts';
import { deadLetterQueueName } from './keys.ts';

/**
 * BullMQ `Queue` objects by name, made on first use over one shared connection, each with the telemetry given
 * (none: BullMQ traces nothing). Closing the set closes the queues, never the connection (its owner closes it).
 */
export class QueueSet {
  private readonly queues = new Map<string, Queue>();
  constructor(
    readonly connection: RedisClient,
    readonly prefix: string,
    readonly telemetry?: Telemetry,
  ) {}

  get(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, {
        connection: this.connection,
        prefix: this.prefix,
        ...(this.telemetry ? { telemetry: this.telemetry } : {}),
      });
      // Errors also surface on the awaited calls; keep the emitter from crashing the process.
      q.on('error', () => {});
      this.queues.set(name, q);
    }
    return q;
  }

  dead(queue: string): Queue {
    return this.get(deadLetterQueueName(queue));
  }

  all(): Queue[] {
    return [...this.queues.values()];
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((q) => q.close().catch(() => {})));
    this.queues.clear();
  }
}
