import { loadConfig, redisTargetOf } from '@bullpen/config';
import { checkRedisOrExit, onShutdownSignals } from '@bullpen/jobs/process';
import { buildApp } from './app.ts';

const config = loadConfig('api');
if (config.REDIS_CHECK) await checkRedisOrExit(redisTargetOf(config));

const app = await buildApp(config);
await app.listen({ host: config.API_HOST, port: config.API_PORT });

onShutdownSignals(
  async (signal) => {
    app.log.info({ signal }, 'api.stopping');
    // Stops accepting, answers 503 to new requests on open connections, waits for in-flight ones.
    await app.close();
    app.log.info('api.stopped');
  },
  { deadlineMs: 30_000, onForcedExit: (reason, err) => app.log.error({ reason, err }, 'api.forced_exit') },
);
