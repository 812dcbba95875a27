import { checkRedis, type RedisConfig } from '@bullpen/config';
import { closeRedis, createRedisConnection, type RedisClient } from './connection.ts';

/**
 * For entry files: unless `REDIS_CHECK=false`, checks that Redis is reachable, ≥ 6.2 and never evicts;
 * otherwise prints how to fix it and exits 1. Uses `connection` when given, else a short-lived one.
 */
export async function checkRedisOrExit(config: RedisConfig, connection?: RedisClient): Promise<void> {
  if (!config.REDIS_CHECK) return;
  const probe = connection ?? createRedisConnection(config, 'admin');
  try {
    await checkRedis(probe);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    await closeRedis(probe);
    process.exit(1);
  }
  if (!connection) await closeRedis(probe);
}

export interface ShutdownOptions {
  /** Past this, the process exits 1 whatever `stop` is doing. */
  deadlineMs: number;
  /** Told about a second signal, the deadline, or a failed stop, just before the process exits 1. */
  onForcedExit?: (reason: 'second-signal' | 'deadline' | 'failed', err?: unknown) => void;
}

/**
 * For entry files: on SIGTERM or SIGINT runs `stop` once, then exits 0 (1 when it throws, when it runs
 * past `deadlineMs`, or on a second signal).
 */
export function onShutdownSignals(stop: (signal: NodeJS.Signals) => Promise<void>, opts: ShutdownOptions): void {
  let stopping = false;
  const handle = async (signal: NodeJS.Signals) => {
    if (stopping) {
      opts.onForcedExit?.('second-signal');
      process.exit(1);
    }
    stopping = true;
    const deadline = setTimeout(() => {
      opts.onForcedExit?.('deadline');
      process.exit(1);
    }, opts.deadlineMs);
    deadline.unref();
    try {
      await stop(signal);
      process.exit(0);
    } catch (err) {
      opts.onForcedExit?.('failed', err);
      process.exit(1);
    }
  };
  process.on('SIGTERM', (s) => void handle(s));
  process.on('SIGINT', (s) => void handle(s));
}
