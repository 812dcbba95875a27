import type { RepeatOptions } from 'bullmq';
import type { Logger } from 'pino';
import type { Registry } from './define.ts';
import type { Envelope } from './envelope.ts';
import { jobOptions } from './job-options.ts';
import { versionMeta } from './payload-versions.ts';
import type { QueueSet } from './queues.ts';
import { SCHEDULER_PREFIX, type ScheduleDefinition, schedulerIdFor } from './schedules.ts';

function repeatOf(s: ScheduleDefinition): Omit<RepeatOptions, 'key'> {
  return s.cron !== undefined ? { pattern: s.cron, tz: s.tz ?? 'UTC' } : { every: s.everyMs! };
}

/** The data every run of a schedule gets: today's payload and version, the schedule's name; no idempotency key. */
function templateData(s: ScheduleDefinition): Envelope {
  return { payload: s.payload, meta: { schedule: s.name, ...versionMeta(s.job) } };
}

/**
 * Makes Redis hold exactly the registry's schedules of the served queues: each upserted as a BullMQ job scheduler
 * (an upsert of an unchanged one keeps its next run, so N workers starting keep one scheduler and one pending
 * run), and every scheduler Bullpen made on those queues that the registry no longer has removed (with its
 * pending run). Schedulers someone else made are left alone. Each run is an ordinary job of the schedule's job,
 * under today's options, with no idempotency key (every run is new work).
 */
export async function syncSchedules(
  registry: Registry,
  served: readonly string[],
  queues: QueueSet,
  logger: Logger,
): Promise<{ upserted: string[]; removed: string[] }> {
  const upserted: string[] = [];
  const removed: string[] = [];
  for (const queue of served) {
    const q = queues.get(queue);
    const wanted = registry.schedules.filter((s) => s.job.queue === queue);
    for (const s of wanted) {
      await q.upsertJobScheduler(schedulerIdFor(s.name), repeatOf(s), {
        name: s.job.name,
        data: templateData(s),
        opts: jobOptions(s.job),
      });
      upserted.push(s.name);
    }
    const keep = new Set(wanted.map((s) => schedulerIdFor(s.name)));
    for (const existing of await q.getJobSchedulers(0, -1)) {
      const id = existing.key;
      if (!id.startsWith(SCHEDULER_PREFIX) || keep.has(id)) continue;
      await q.removeJobScheduler(id);
      removed.push(id.slice(SCHEDULER_PREFIX.length));
    }
  }
  if (upserted.length || removed.length) logger.info({ upserted, removed }, 'schedule.synced');
  return { upserted, removed };
}

/** A schedule as `admin.listSchedules()` shows it. */
export interface ScheduleInfo {
  name: string;
  job: string;
  queue: string;
  /** The BullMQ job scheduler's id. */
  schedulerId: string;
  cron?: string;
  tz?: string;
  everyMs?: number;
  description?: string;
  /** When the next run is due (ISO 8601), once a worker has upserted the schedule. */
  next?: string;
  /** Runs enqueued so far (BullMQ's iteration count). */
  iterations?: number;
  /** Whether the registry has it: false for a scheduler a worker has not removed yet. */
  inRegistry: boolean;
  /** Whether Redis has it: false until a worker serving its queue starts. */
  scheduled: boolean;
}

/** The registry's schedules beside the job schedulers Bullpen made in Redis, with their next run times. */
export async function listSchedules(registry: Registry, queues: QueueSet): Promise<ScheduleInfo[]> {
  const out: ScheduleInfo[] = [];
  const byId = new Map(registry.schedules.map((s) => [schedulerIdFor(s.name), s]));
  const seen = new Set<string>();
  for (const queue of registry.queues) {
    for (const j of await queues.get(queue).getJobSchedulers(0, -1, true)) {
      if (!j.key.startsWith(SCHEDULER_PREFIX)) continue;
      const def = byId.get(j.key);
      seen.add(j.key);
      out.push({
        name: j.key.slice(SCHEDULER_PREFIX.length),
        job: j.name,
        queue,
        schedulerId: j.key,
        ...(j.pattern ? { cron: j.pattern } : {}),
        ...(j.tz ? { tz: j.tz } : {}),
        ...(j.every ? { everyMs: Number(j.every) } : {}),
        ...(def?.description ? { description: def.description } : {}),
        ...(j.next !== undefined ? { next: new Date(Number(j.next)).toISOString() } : {}),
        ...(j.iterationCount !== undefined ? { iterations: Number(j.iterationCount) } : {}),
        inRegistry: def !== undefined && def.job.queue === queue,
        scheduled: true,
      });
    }
  }
  for (const [id, s] of byId) {
    if (seen.has(id)) continue;
    out.push({
      name: s.name,
      job: s.job.name,
      queue: s.job.queue,
      schedulerId: id,
      ...(s.cron !== undefined ? { cron: s.cron, tz: s.tz ?? 'UTC' } : { everyMs: s.everyMs }),
      ...(s.description ? { description: s.description } : {}),
      inRegistry: true,
      scheduled: false,
    });
  }
  return out.sort((a, b) => (a.next ?? '~').localeCompare(b.next ?? '~') || a.name.localeCompare(b.name));
}
