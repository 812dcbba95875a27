export {
  deleteKeys,
  openRedisSockets,
  type RedisTestContext,
  testRedisUrl,
  uniquePrefix,
  useRedisTest,
  waitFor,
} from './fixture.ts';
export { makeImage, type TestImageFormat } from './images.ts';
export { readmeErrorCodes, undocumentedCodes } from './readme.ts';
export { type RedisClusterHandle, type StartRedisClusterOptions, startRedisCluster } from './redis-cluster.ts';
export { freePort, type RedisServerHandle, type StartRedisOptions, startRedisServer } from './redis-server.ts';
export { type S3ServerHandle, startS3Server } from './s3-server.ts';
export { type SpawnOptions, spawnNode, spawnTs, type TsProcess, tsNodeArgs } from './spawn-ts.ts';
