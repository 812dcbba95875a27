import { loadConfig, redisTargetOf } from '@bullpen/config';
import { checkRedisOrExit, onShutdownSignals } from '@bullpen/jobs/process';
import { startTelemetry } from '@bullpen/observability';
import { buildWorker, configureSharp, workerName } from './app.ts';
import { APP_VERSION } from './version.ts';

const config = loadConfig('worker');
if (config.REDIS_CHECK) await checkRedisOrExit(redisTargetOf(config));

// Undefined unless OTEL_* asks for traces: then nothing is loaded or spent.
const telemetry = await startTelemetry({
  settings: config,
  serviceName: 'bullpen-worker',
  version: config.BUILD_VERSION ?? APP_VERSION,
});
const sharpThreads = configureSharp(config);
const app = await buildWorker(config, telemetry ? { telemetry } : {});
await app.worker.waitUntilReady();
app.logger.info(
  { httpPort: app.httpPort, concurrency: config.WORKER_CONCURRENCY, sharpThreads, workerName: workerName() },
  'worker.started',
);

onShutdownSignals(
  async (signal) => {
    app.logger.info({ signal, graceMs: config.WORKER_SHUTDOWN_GRACE_MS }, 'worker.stopping');
    // Active jobs finish within the grace period; the rest are handed back to the queue.
    const { handedBack } = await app.close();
    app.logger.info({ handedBack }, 'worker.stopped');
    // Spans still buffered are exported before the process exits.
    await telemetry?.shutdown();
  },
  {
    deadlineMs: config.WORKER_SHUTDOWN_GRACE_MS + 10_000,
    // A second signal stops at once: active jobs are redelivered after their lock expires.
    onForcedExit: (reason, err) => app.logger.warn({ reason, err }, 'worker.forced_exit'),
  },
);
