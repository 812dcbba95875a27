export { alertOptionsOf } from './alert-options.ts';
export { envBoolean, envInt, envList, envNumber } from './env.ts';
export { ConfigError, loadConfig, logFormatFor, parseConfig } from './load.ts';
export { redisTargetOf } from './redis-target.ts';
export {
  type ApiConfig,
  apiSchema,
  type Config,
  type DashboardConfig,
  dashboardSchema,
  observabilitySchema,
  type RedisConfig,
  redisSchema,
  type Slice,
  schemas,
  type WorkerConfig,
  workerSchema,
} from './schema.ts';
