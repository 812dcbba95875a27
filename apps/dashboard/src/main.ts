import { checkRedis, loadConfig } from '@bullpen/config';
import { closeRedis, createLogger, createRedisConnection, logFormatFor } from '@bullpen/jobs';
import { buildApp } from './app.ts';
import { AUTH_OFF_TEXT } from './layout.ts';

const SHUTDOWN_DEADLINE_MS = 10_000;

async function main() {
  // Refuses to start, listing every problem, without users unless DASHBOARD_AUTH_DISABLED=true.
  const config = loadConfig('dashboard');
  const logger = createLogger({ name: 'dashboard', level: config.LOG_LEVEL, format: logFormatFor(config) });
  if (config.DASHBOARD_AUTH_DISABLED) {
    process.stderr.write(`\n  WARNING: ${AUTH_OFF_TEXT}\n\n`);
    logger.warn('dashboard.auth_disabled');
  }
  const connection = createRedisConnection(config, 'admin');
  if (config.REDIS_CHECK) {
    try {
      await checkRedis(connection);
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n`);
      await closeRedis(connection);
      process.exit(1);
    }
  }
  const app = await buildApp(config, { connection, logger });
  await app.listen({ host: config.DASHBOARD_HOST, port: config.DASHBOARD_PORT });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'dashboard.stopping');
    const deadline = setTimeout(() => {
      logger.error('dashboard.shutdown_timeout');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    try {
      await app.close();
      await closeRedis(connection);
      logger.info('dashboard.stopped');
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'dashboard.shutdown_failed');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`dashboard failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
