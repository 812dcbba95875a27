// The producer side: typed enqueue by job name, validated before anything touches Redis.
import { createProducer, type RedisClient } from '@bullpen/jobs';
import { registry } from './jobs.js';

export function emailProducer(connection: RedisClient, prefix: string) {
  return createProducer(registry, { connection, prefix, maxBacklog: 10_000 });
}
