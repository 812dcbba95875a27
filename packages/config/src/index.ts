export { envBoolean, envInt, envList } from './env.ts';
export { ConfigError, loadConfig, parseConfig } from './load.ts';
export { checkRedis, RedisNotReadyError } from './redis-check.ts';
export {
  type ApiConfig,
  apiSchema,
  type Config,
  type DashboardConfig,
  dashboardSchema,
  type RedisConfig,
  redisSchema,
  type Slice,
  schemas,
  type WorkerConfig,
  workerSchema,
} from './schema.ts';
