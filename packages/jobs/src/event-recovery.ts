import type { Telemetry } from 'bullmq';
import type { Logger } from 'pino';
import { BacklogGuard } from './backlog.ts';
import type { RedisClient } from './connection.ts';
import type { JobDefinition, Registry } from './define.ts';
import { Enqueuer } from './enqueuer.ts';
import { EventPublisher } from './events.ts';
import { QueueSet } from './queues.ts';

export interface EventRecovery {
  stop(): Promise<void>;
}

/**
 * Every `intervalMs`, finishes the publishes that a crash cut short between recording an event and enqueuing
 * every subscriber (one pass at a time). Workers run it, so nobody has to.
 */
export function startEventRecovery(
  registry: Registry,
  opts: {
    connection: RedisClient;
    prefix: string;
    logger: Logger;
    intervalMs: number;
    telemetry?: Telemetry | undefined;
  },
): EventRecovery {
  const queues = new QueueSet(opts.connection, opts.prefix, opts.telemetry);
  const enqueuer = new Enqueuer({
    jobs: registry.jobs as Record<string, JobDefinition>,
    queues,
    // A resumed publish finishes what was admitted once: no cap.
    guard: new BacklogGuard({ cap: Number.POSITIVE_INFINITY }),
    client: opts.connection,
    prefix: opts.prefix,
  });
  const events = new EventPublisher(registry.events, enqueuer, opts.connection, opts.prefix, opts.logger);
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    events
      .resumePending()
      .then((n) => n > 0 && opts.logger.warn({ events: n }, 'event.resumed'))
      .catch((err) => opts.logger.warn({ err }, 'event.resume_failed'))
      .finally(() => {
        running = false;
      });
  }, opts.intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await queues.close();
    },
  };
}
