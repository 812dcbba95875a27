import type { RedisServerHandle } from '@bullpen/test-utils';
import type { Redis } from 'ioredis';

export interface BenchContext {
  redis: RedisServerHandle;
  /** A client for bookkeeping (INFO, FLUSHALL): never the client under test. */
  admin: Redis;
  quick: boolean;
  /** Repeats of each figure (>= 3). */
  reps: number;
  log(msg: string): void;
}

/** A fresh queue prefix per measurement, so no run sees another's keys. */
let seq = 0;
export const freshPrefix = (label: string) => `b${++seq}-${label}`;
