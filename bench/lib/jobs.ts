import { defineJob, defineRegistry } from '@bullpen/jobs';
import { z } from 'zod';

/** A job that does nothing: the framework's own cost per job. Keyless, like most fire-and-forget work. */
export const benchNoop = defineJob({
  name: 'bench.noop',
  queue: 'bench',
  payload: z.object({ n: z.number().int(), t: z.number().optional() }),
  attempts: 3,
});

/** The same with an idempotency key: a ledger read and a done-mark per job, and the enqueue-side EXISTS. */
export const benchKeyed = defineJob({
  name: 'bench.keyed',
  queue: 'benchk',
  payload: z.object({ id: z.string().min(1), n: z.number().int(), t: z.number().optional() }),
  attempts: 3,
  idempotencyKey: (p) => p.id,
});

/** A job with one side effect inside `ctx.step` (the chaos suite counts how often it ran). */
export const chaosEffect = defineJob({
  name: 'chaos.effect',
  queue: 'chaos',
  payload: z.object({ n: z.number().int(), workMs: z.number().int().min(0).max(60_000) }),
  attempts: 5,
  backoff: { type: 'fixed', delay: 100 },
  idempotencyKey: (p) => `n${p.n}`,
});

export const benchRegistry = defineRegistry([benchNoop, benchKeyed, chaosEffect]);
export type BenchRegistry = typeof benchRegistry;

/** Where the chaos worker records what happened (keys under the run's prefix). */
export const chaosKeys = (prefix: string) => ({
  /** INCR per job: how often the step's side effect ran. */
  effect: (n: number) => `${prefix}:effect:${n}`,
  /** Hash jobId → pid of the worker that started it last. */
  owner: `${prefix}:owner`,
  /** Hash jobId → ms timestamp of the handler's last start. */
  started: `${prefix}:started`,
  /** Hash jobId → how often the handler started. */
  starts: `${prefix}:starts`,
  /** List per job of `pid:ms` for each run of the side effect. */
  effectLog: (n: number) => `${prefix}:effect-log:${n}`,
});
