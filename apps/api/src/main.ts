import { loadConfig, redisTargetOf } from '@bullpen/config';
import { checkRedisOrExit, onShutdownSignals } from '@bullpen/jobs/process';
import { startTelemetry } from '@bullpen/observability';
import { buildApp } from './app.ts';
import { APP_VERSION } from './version.ts';

const config = loadConfig('api');
if (config.REDIS_CHECK) await checkRedisOrExit(redisTargetOf(config));

// Before Fastify is made, so that @fastify/otel instruments it; undefined unless OTEL_* asks for traces.
const telemetry = await startTelemetry({
  settings: config,
  serviceName: 'bullpen-api',
  version: config.BUILD_VERSION ?? APP_VERSION,
  fastify: true,
});
const app = await buildApp(config, telemetry ? { telemetry } : {});
await app.listen({ host: config.API_HOST, port: config.API_PORT });

onShutdownSignals(
  async (signal) => {
    app.log.info({ signal }, 'api.stopping');
    // Stops accepting, answers 503 to new requests on open connections, waits for in-flight ones.
    await app.close();
    app.log.info('api.stopped');
    // Spans still buffered are exported before the process exits.
    await telemetry?.shutdown();
  },
  { deadlineMs: 30_000, onForcedExit: (reason, err) => app.log.error({ reason, err }, 'api.forced_exit') },
);
