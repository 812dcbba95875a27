import { checkRedis, loadConfig } from '@bullpen/config';
import { closeRedis, createRedisConnection } from '@bullpen/jobs';
import { buildApp } from './app.ts';

const config = loadConfig('api');

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

const app = await buildApp(config);
await app.listen({ host: config.API_HOST, port: config.API_PORT });

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  app.log.info({ signal }, 'api.stopping');
  // Stops accepting, answers 503 to new requests on open connections, waits for in-flight ones.
  const force = setTimeout(() => {
    app.log.error('api.shutdown_timeout');
    process.exit(1);
  }, 30_000);
  force.unref();
  try {
    await app.close();
    app.log.info('api.stopped');
    process.exit(0);
  } catch (err) {
    app.log.error({ err }, 'api.shutdown_failed');
    process.exit(1);
  }
}
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));
