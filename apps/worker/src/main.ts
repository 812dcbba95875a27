import { loadConfig, redisTargetOf } from '@bullpen/config';
import { checkRedisOrExit, onShutdownSignals } from '@bullpen/jobs/process';
import { buildWorker, configureSharp, workerName } from './app.ts';

const config = loadConfig('worker');
if (config.REDIS_CHECK) await checkRedisOrExit(redisTargetOf(config));

const sharpThreads = configureSharp(config);
const app = await buildWorker(config);
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
  },
  {
    deadlineMs: config.WORKER_SHUTDOWN_GRACE_MS + 10_000,
    // A second signal stops at once: active jobs are redelivered after their lock expires.
    onForcedExit: (reason, err) => app.logger.warn({ reason, err }, 'worker.forced_exit'),
  },
);
