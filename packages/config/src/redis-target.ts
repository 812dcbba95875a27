import type { RedisConfig } from './schema.ts';

/** Where the configuration says Redis is, in the shape `createRedisConnection` takes. */
export function redisTargetOf(config: Pick<RedisConfig, 'REDIS_URL' | 'REDIS_CLUSTER_NODES'>) {
  return { url: config.REDIS_URL, clusterNodes: config.REDIS_CLUSTER_NODES };
}
