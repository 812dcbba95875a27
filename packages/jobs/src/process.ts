/**
 * `@bullpen/jobs/process`: helpers for a process's entry file, the one place that may end the process.
 * The library itself never calls `process.exit`.
 */
import { closeRedis, createRedisConnection, type RedisClient, type RedisTarget, redactRedisUrl } from './connection.ts';
import { checkRedis } from './redis-check.ts';

/**
 * Checks that Redis is reachable, ≥ 6.2 and never evicts (`checkRedis`); otherwise prints one line, with the
 * error's code and the URL tried, and exits 1. Uses `connection` when given, else a short-lived one.
 */
export async function checkRedisOrExit(target: RedisTarget | string, connection?: RedisClient): Promise<void> {
  const url = typeof target === 'string' ? target : target.url;
  const probe = connection ?? createRedisConnection(target, 'admin');
  // The check reports what went wrong; ioredis's own "Unhandled error event" traces add nothing.
  const quiet = () => {};
  probe.on('error', quiet);
  try {
    await checkRedis(probe);
  } catch (err) {
    const { code, message } = err as { code?: string; message: string };
    process.stderr.write(`${code ?? 'REDIS_NOT_READY'}: ${message} at ${redactRedisUrl(url)}\n`);
    if (!connection) await closeRedis(probe);
    process.exit(1);
  } finally {
    probe.off('error', quiet);
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
 * On SIGTERM or SIGINT runs `stop` once, then exits 0 (1 when it throws, when it runs past `deadlineMs`, or
 * on a second signal).
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
