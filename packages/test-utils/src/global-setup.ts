import type { TestProject } from 'vitest/node';
import './provided.ts';
import { startRedisServer } from './redis-server.ts';

/** vitest globalSetup: one throw-away Redis for the run (or TEST_REDIS_URL); tests isolate by prefix. */
export default async function setup(project: TestProject) {
  const given = process.env.TEST_REDIS_URL;
  if (given) {
    project.provide('redisUrl', given);
    return;
  }
  const server = await startRedisServer();
  project.provide('redisUrl', server.url);
  return () => server.stop();
}
