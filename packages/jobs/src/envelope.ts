import { z } from 'zod';

/** What Bullpen stores beside a payload in a BullMQ job's data. */
export const jobMetaSchema = z.object({
  /** The idempotency key, when the work has one. */
  key: z.string().optional(),
  /** Where `ctx.step` results live; set on replays so a replay resumes its source job's steps. */
  ledger: z.string().optional(),
  /** The request that caused the job, for following one upload through every log. */
  requestId: z.string().optional(),
  /** The dead letter (source job id) this job replays. */
  replayOf: z.string().optional(),
  /** The event that fanned out to this job. */
  eventId: z.string().optional(),
  /** The payload's version (its job's `version` when enqueued); absent means 1. */
  v: z.number().int().positive().optional(),
  /** The schedule that enqueued this run. */
  schedule: z.string().optional(),
});
export type JobMeta = z.infer<typeof jobMetaSchema>;

/** A BullMQ job's data, as Bullpen writes it. A foreign producer's data that does not fit is dead-lettered. */
export const envelopeSchema = z.object({ payload: z.unknown(), meta: jobMetaSchema.default({}) });
export interface Envelope<P = unknown> {
  payload: P;
  meta: JobMeta;
}

/** The zod schema of a job's BullMQ data: Bullpen's envelope around the job's payload (for tools and docs). */
export function jobDataSchema<S extends z.ZodType>(def: { payload: S }) {
  return envelopeSchema.extend({ payload: def.payload });
}

/** The ledger record a job's steps are stored under. */
export function ledgerIdFor(jobName: string, queue: string, jobId: string, meta: JobMeta): string {
  if (meta.ledger) return meta.ledger;
  if (meta.key) return `k:${jobName}:${meta.key}`;
  return `j:${queue}:${jobId}`;
}
