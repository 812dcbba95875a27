// The public API of @bullpen/jobs. What is not exported here is internal and may change in any release.
export {
  type ActionOptions,
  createJobAdmin,
  type FoundJob,
  type JobAdmin,
  type JobAdminOptions,
  type LetterTarget,
  type ReplayOutcome,
  type ReplayReport,
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
export * from './define.ts';
export { type Envelope, type JobMeta, jobDataSchema } from './envelope.ts';
export {
  BullpenError,
  DeadLetterNotFoundError,
  InvalidQueuedPayloadError,
  JobErrorCode,
  JobPayloadInvalidError,
  JobTimeoutError,
  JobUnknownError,
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
export { checkRedis, RedisNotReadyError } from './redis-check.ts';
export { isRedisUnavailable } from './redis-errors.ts';
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
