// The public API of @bullpen/jobs. What is not exported here is internal and may change in any release.
export {
  type ActionOptions,
  type CancelledJob,
  type CancelOptions,
  type CancelOutcome,
  type CancelReport,
  type CancelStatus,
  createJobAdmin,
  type FoundJob,
  type JobAdmin,
  type JobAdminOptions,
  type LetterTarget,
  type ReplayOutcome,
  type ReplayReport,
  type ScheduleInfo,
} from './admin.ts';
export {
  type Alert,
  type AlertKind,
  type AlertOptions,
  type Alerts,
  type AlertWebhook,
  createAlerts,
} from './alerts.ts';
export type { AuditAction, AuditEntry, AuditLog } from './audit.ts';
export type { BacklogOptions } from './backlog.ts';
export { isCancelledJob } from './cancel.ts';
export {
  type ConnectionRole,
  closeRedis,
  createRedisConnection,
  type RedisClient,
  type RedisTarget,
  redactRedisUrl,
} from './connection.ts';
export {
  type AttemptRecord,
  type DeadLetter,
  type DeadLetterEntry,
  groupLetters,
  type LetterFilter,
  type LetterGroup,
} from './dead-letter.ts';
export type { Deduplicate } from './deduplicate.ts';
export * from './define.ts';
export { type Envelope, type JobMeta, jobDataSchema } from './envelope.ts';
export {
  BullpenError,
  DeadLetterNotFoundError,
  InvalidQueuedPayloadError,
  JobCancelledError,
  JobErrorCode,
  JobPayloadInvalidError,
  JobTimeoutError,
  JobUnknownError,
  PayloadMigrationError,
  PayloadTooNewError,
  PermanentJobError,
  QueueFullError,
  QueueUnavailableError,
  UnknownQueuedJobError,
} from './errors.ts';
export { jobOptions } from './job-options.ts';
export { deadLetterQueueName, isDeadLetterQueue, jobIdFor, letterIdFor } from './keys.ts';
export type { AttemptFailure, StepRecord } from './ledger.ts';
export type { LetterTimeline, TimelineAttempt } from './letter-timeline.ts';
export { createLogger, type Logger, type LoggerOptions, loggerOptions, REDACT_PATHS } from './logger.ts';
export { createMetrics, type JobMetrics } from './metrics.ts';
export {
  checkPayload,
  type MigrationStep,
  type Migrations,
  migratePayload,
  type PayloadCheck,
} from './payload-versions.ts';
export { JOB_POSTPONED, JobPostponedError, type PostponeOptions } from './postpone.ts';
export {
  type BulkItem,
  createProducer,
  type EnqueueOptions,
  type EnqueueResult,
  type Producer,
  type ProducerOptions,
  type PublishResult,
} from './producer.ts';
export type { QueueSet } from './queues.ts';
export type { RateLimit } from './rate-limit.ts';
export { checkRedis, RedisNotReadyError } from './redis-check.ts';
export { isDiskFull, isRedisUnavailable } from './redis-errors.ts';
export { defineSchedule, type ScheduleDefinition, type ScheduleTiming, schedulerIdFor } from './schedules.ts';
export { SIGNATURE_HEADER, signWebhook, verifyWebhookSignature } from './webhook-signature.ts';
export {
  type BullpenWorker,
  createWorker,
  type Handler,
  type HandlerMap,
  type JobContext,
  type JobLogOptions,
  type WorkerOptions,
  WorkerShuttingDownError,
} from './worker.ts';
