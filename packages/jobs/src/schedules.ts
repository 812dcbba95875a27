import { getNextMillis } from 'bullmq';
import type { z } from 'zod';
import type { JobDefinition } from './define.ts';
import { JobPayloadInvalidError } from './errors.ts';

/** When a schedule runs: a cron pattern in a time zone, or every N ms. */
export type ScheduleTiming =
  | {
      /** A cron pattern: 5 fields (minute first), or 6 with seconds first (`0 30 3 * * *`). */
      cron: string;
      /** An IANA time zone the pattern is read in (`Europe/Berlin`). Default `UTC`, whatever the host's. */
      tz?: string;
      everyMs?: undefined;
    }
  | {
      /** Every this many ms (an integer >= 1). The first run is when the first worker starts. */
      everyMs: number;
      cron?: undefined;
      tz?: undefined;
    };

/** A recurring job of the registry. Build one with `defineSchedule`. */
export type ScheduleDefinition<N extends string = string> = {
  readonly kind: 'schedule';
  /** Unique in the registry; the BullMQ job scheduler's id derives from it (`schedulerIdFor`). */
  readonly name: N;
  /** The job each run enqueues. */
  readonly job: JobDefinition;
  /** The payload of every run, parsed with the job's schema when the schedule was defined. */
  readonly payload: unknown;
  readonly description?: string;
} & Readonly<ScheduleTiming>;

const NAME = /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/;
/** Job schedulers Bullpen made carry this prefix: workers remove those the registry no longer has, only those. */
export const SCHEDULER_PREFIX = 'bullpen.schedule.';
export const schedulerIdFor = (scheduleName: string) => `${SCHEDULER_PREFIX}${scheduleName}`;

/**
 * A recurring job, declared beside the jobs: workers upsert it as a BullMQ job scheduler when they start (N workers
 * keep one scheduler) and remove it once it is gone from the registry. The payload is checked now: a bad one
 * throws `JobPayloadInvalidError` here, not at 3 a.m.
 */
export function defineSchedule<const N extends string, J extends JobDefinition>(
  input: { name: N; job: J; payload: z.input<J['payload']>; description?: string } & ScheduleTiming,
): ScheduleDefinition<N> {
  const { name, job } = input;
  if (!NAME.test(name)) throw new TypeError(`schedule name "${name}" must look like area.what (a-z, 0-9, _ -)`);
  const parsed = job.payload.safeParse(input.payload);
  if (!parsed.success) throw new JobPayloadInvalidError(job.name, parsed.error.issues);
  const timing = checkTiming(name, input);
  return Object.freeze({
    kind: 'schedule' as const,
    name,
    job,
    payload: parsed.data,
    ...(input.description ? { description: input.description } : {}),
    ...timing,
  }) as ScheduleDefinition<N>;
}

function checkTiming(name: string, t: ScheduleTiming): ScheduleTiming {
  if (t.cron !== undefined && t.everyMs !== undefined)
    throw new TypeError(`schedule "${name}": cron or everyMs, not both`);
  if (t.everyMs !== undefined) {
    if (!Number.isInteger(t.everyMs) || t.everyMs < 1) throw new TypeError(`schedule "${name}": everyMs must be >= 1`);
    return { everyMs: t.everyMs };
  }
  if (typeof t.cron !== 'string') throw new TypeError(`schedule "${name}" needs cron or everyMs`);
  const tz = t.tz ?? 'UTC';
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
  } catch {
    throw new TypeError(`schedule "${name}": unknown time zone "${tz}"`);
  }
  try {
    // BullMQ's own reading of the pattern, so what passes here is what the scheduler runs.
    getNextMillis(Date.now(), { pattern: t.cron, tz });
  } catch (err) {
    throw new TypeError(`schedule "${name}": bad cron pattern "${t.cron}": ${(err as Error).message}`);
  }
  return { cron: t.cron, tz };
}
