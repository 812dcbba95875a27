import { loadConfig, logFormatFor, redisTargetOf } from '@bullpen/config';
import { closeRedis, createLogger, createRedisConnection } from '@bullpen/jobs';
import { checkRedisOrExit, onShutdownSignals } from '@bullpen/jobs/process';
import { startTelemetry } from '@bullpen/observability';
import { registry } from '@bullpen/uploads';
import { buildApp } from './app.ts';
import { AUTH_OFF_TEXT } from './layout.ts';
import { APP_VERSION } from './version.ts';

const SHUTDOWN_DEADLINE_MS = 10_000;

async function main() {
  // Refuses to start, listing every problem, without users unless DASHBOARD_AUTH_DISABLED=true.
  const config = loadConfig('dashboard');
  // Before Fastify is made, so that @fastify/otel instruments it; undefined unless OTEL_* asks for traces.
  const telemetry = await startTelemetry({
    settings: config,
    serviceName: 'bullpen-dashboard',
    version: config.BUILD_VERSION ?? APP_VERSION,
    fastify: true,
  });
  const logger = createLogger({
    name: 'dashboard',
    level: config.LOG_LEVEL,
    format: logFormatFor(config),
    ...(telemetry ? { mixin: telemetry.logMixin } : {}),
  });
  if (config.DASHBOARD_AUTH_DISABLED) {
    process.stderr.write(`\n  WARNING: ${AUTH_OFF_TEXT}\n\n`);
    logger.warn('dashboard.auth_disabled');
  }
  const connection = createRedisConnection(redisTargetOf(config), 'admin');
  if (config.REDIS_CHECK) await checkRedisOrExit(redisTargetOf(config), connection);
  const app = await buildApp(config, { connection, logger, registry, ...(telemetry ? { telemetry } : {}) });
  await app.listen({ host: config.DASHBOARD_HOST, port: config.DASHBOARD_PORT });

  onShutdownSignals(
    async (signal) => {
      logger.info({ signal }, 'dashboard.stopping');
      await app.close();
      await closeRedis(connection);
      logger.info('dashboard.stopped');
      // Spans still buffered are exported before the process exits.
      await telemetry?.shutdown();
    },
    {
      deadlineMs: SHUTDOWN_DEADLINE_MS,
      onForcedExit: (reason, err) => logger.error({ reason, err }, 'dashboard.forced_exit'),
    },
  );
}

main().catch((err) => {
  process.stderr.write(`dashboard failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
