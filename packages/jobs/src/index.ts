export {
  type ActionOptions,
  createJobAdmin,
  type FoundJob,
  type JobAdmin,
  type LetterTarget,
  type ReplayOutcome,
  type ReplayReport,
} from './admin.ts';
export { type AuditAction, type AuditEntry, AuditLog } from './audit.ts';
export { BacklogGuard, type BacklogOptions } from './backlog.ts';
export {
  type ConnectionRole,
  closeRedis,
  createRedisConnection,
  type RedisClient,
  type RedisTarget,
} from './connection.ts';
export {
  type DeadLetter,
  type DeadLetterEntry,
  groupLetters,
  type LetterFilter,
  type LetterGroup,
} from './dead-letter.ts';
export * from './define.ts';
export { type Envelope, envelopeSchema, type JobMeta } from './envelope.ts';
export * from './errors.ts';
export { deadLetterQueueName, isDeadLetterQueue, jobIdFor, letterIdFor } from './keys.ts';
export { Ledger } from './ledger.ts';
export { createLogger, type Logger, type LoggerOptions, logFormatFor, loggerOptions, REDACT_PATHS } from './logger.ts';
export { createMetrics, type JobMetrics } from './metrics.ts';
export { JOB_POSTPONED, JobPostponedError, type PostponeOptions } from './postpone.ts';
export { checkRedisOrExit, onShutdownSignals, type ShutdownOptions } from './process.ts';
export {
  type BulkItem,
  createProducer,
  type EnqueueOptions,
  type EnqueueResult,
  type Producer,
  type ProducerOptions,
  type PublishResult,
} from './producer.ts';
export { QueueSet } from './queues.ts';
export { isRedisUnavailable } from './redis-errors.ts';
export {
  type BullpenWorker,
  createWorker,
  type Handler,
  type HandlerMap,
  type JobContext,
  type WorkerOptions,
  WorkerShuttingDownError,
} from './worker.ts';
