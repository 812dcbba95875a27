import { checkRedis, loadConfig } from '@bullpen/config';
import { closeRedis, createRedisConnection } from '@bullpen/jobs';
import { buildWorker, configureSharp } from './app.ts';

const config = loadConfig('worker');

if (config.REDIS_CHECK) {
  const probe = createRedisConnection(config, 'admin');
  try {
    await checkRedis(probe);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  } finally {
    await closeRedis(probe);
  }
}

const sharpThreads = configureSharp(config);
const app = await buildWorker(config);
await app.worker.waitUntilReady();
app.logger.info(
  { httpPort: app.httpPort, concurrency: config.WORKER_CONCURRENCY, sharpThreads, pid: process.pid },
  'worker.started',
);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) {
    // A second signal: stop now; active jobs are redelivered after their lock expires.
    app.logger.warn({ signal }, 'worker.forced_exit');
    process.exit(1);
  }
  stopping = true;
  app.logger.info({ signal, graceMs: config.WORKER_SHUTDOWN_GRACE_MS }, 'worker.stopping');
  try {
    const { handedBack } = await app.close();
    app.logger.info({ handedBack }, 'worker.stopped');
    process.exit(0);
  } catch (err) {
    app.logger.error({ err }, 'worker.shutdown_failed');
    process.exit(1);
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
