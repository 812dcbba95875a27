import os from 'node:os';
import { alertOptionsOf, logFormatFor, redisTargetOf, type WorkerConfig } from '@bullpen/config';
import {
  type BullpenWorker,
  closeRedis,
  createAlerts,
  createLogger,
  createMetrics,
  createProducer,
  createRedisConnection,
  createWorker,
  type JobMetrics,
  type Logger,
  type QueueName,
  type RedisClient,
} from '@bullpen/jobs';
import type { AppTelemetry } from '@bullpen/observability';
import { createStorage, type Storage } from '@bullpen/storage';
import { type AppRegistry, registry, UploadRecords, uploadIdOf } from '@bullpen/uploads';
import { collectDefaultMetrics } from 'prom-client';
import sharp from 'sharp';
import { imageResizeCancelled, imageResizeDeadLetter, imageResizeHandler } from './handlers/image-resize.ts';
import { webhookDeadLetter, webhookDeliverHandler } from './handlers/webhook-deliver.ts';
import { type OpsServer, startOpsServer } from './http-server.ts';
import { APP_VERSION } from './version.ts';

export interface WorkerDeps {
  /** Made from the config (and closed with the worker) when absent. */
  workerConnection?: RedisClient;
  producerConnection?: RedisClient;
  storage?: Storage;
  logger?: Logger;
  metrics?: JobMetrics;
  /** Tracing, when `startTelemetry` started it; none: nothing traced. */
  telemetry?: AppTelemetry;
}

export interface WorkerApp {
  readonly worker: BullpenWorker;
  readonly metrics: JobMetrics;
  /** The port /healthz and /metrics listen on. */
  readonly httpPort: number;
  readonly logger: Logger;
  /**
   * Stops taking jobs, lets active ones finish within `deadlineMs` (default WORKER_SHUTDOWN_GRACE_MS), hands
   * the rest back to the queue, then closes everything it opened.
   */
  close(opts?: { deadlineMs?: number }): Promise<{ handedBack: number }>;
}

const TEMP_MAX_AGE_MS = 3600_000;

/** `<host>:<pid>`: in a container the host name is the container's id, so a job names the container that ran it. */
export const workerName = () => `${os.hostname()}:${process.pid}`;

/** sharp's thread pool: SHARP_CONCURRENCY, else the CPUs this process may use; no libvips cache. */
export function configureSharp(config: Pick<WorkerConfig, 'SHARP_CONCURRENCY'>): number {
  const threads = config.SHARP_CONCURRENCY || os.availableParallelism();
  sharp.concurrency(threads);
  // Each job reads a different original: a cache only holds memory.
  sharp.cache(false);
  return threads;
}

/** A worker process's parts: BullMQ workers for the configured queues, the handlers and /healthz + /metrics. */
export async function buildWorker(config: WorkerConfig, deps: WorkerDeps = {}): Promise<WorkerApp> {
  const { telemetry } = deps;
  const logger =
    deps.logger ??
    createLogger({
      name: 'worker',
      level: config.LOG_LEVEL,
      format: logFormatFor(config),
      ...(telemetry ? { mixin: telemetry.logMixin } : {}),
    });
  const workerConnection = deps.workerConnection ?? createRedisConnection(redisTargetOf(config), 'worker');
  const producerConnection = deps.producerConnection ?? createRedisConnection(redisTargetOf(config), 'producer');
  for (const c of [workerConnection, producerConnection])
    c.on('error', (err: Error) => logger.warn({ err }, 'redis.error'));
  const storage = deps.storage ?? (await createStorage(config));
  const metrics = deps.metrics ?? createMetrics();
  if (!deps.metrics) collectDefaultMetrics({ register: metrics.register });
  const records = new UploadRecords(producerConnection, config.BULLPEN_PREFIX);
  const producer = createProducer(registry, {
    connection: producerConnection,
    prefix: config.BULLPEN_PREFIX,
    metrics,
    ...(telemetry ? { telemetry: telemetry.bullmq } : {}),
  });
  const alerts = createAlerts(registry, {
    ...alertOptionsOf(config, APP_VERSION),
    connection: producerConnection,
    logger,
    metrics,
  });
  const removed = await storage.sweepTemp(TEMP_MAX_AGE_MS).catch(() => 0);
  if (removed) logger.info({ removed }, 'storage.temp_swept');

  const queues = config.WORKER_QUEUES.length ? (config.WORKER_QUEUES as QueueName<AppRegistry>[]) : undefined;
  const worker = createWorker(
    registry,
    {
      'image.resize': {
        handle: imageResizeHandler({
          storage,
          records,
          producer,
          stepDelayMs: config.WORKER_TEST_STEP_DELAY_MS,
          storageFull: {
            delayMs: config.WORKER_STORAGE_FULL_DELAY_MS,
            maxDelayMs: config.WORKER_STORAGE_FULL_MAX_DELAY_MS,
            windowMs: config.WORKER_STORAGE_FULL_WINDOW_MS,
          },
        }),
        onDeadLetter: imageResizeDeadLetter({ records, producer }),
        onCancel: imageResizeCancelled({ records }),
      },
      'webhook.deliver': {
        handle: webhookDeliverHandler({
          secret: config.WEBHOOK_SECRET,
          timeoutMs: config.WEBHOOK_TIMEOUT_MS,
          allowPrivate: config.CALLBACK_ALLOW_PRIVATE,
          records,
        }),
        onDeadLetter: webhookDeadLetter(records),
      },
    },
    {
      connection: workerConnection,
      prefix: config.BULLPEN_PREFIX,
      name: workerName(),
      ...(queues ? { queues } : {}),
      concurrency: config.WORKER_CONCURRENCY,
      shutdownGraceMs: config.WORKER_SHUTDOWN_GRACE_MS,
      lockDurationMs: config.WORKER_LOCK_DURATION_MS,
      stalledIntervalMs: config.WORKER_STALLED_INTERVAL_MS,
      ledgerTtlSeconds: config.LEDGER_TTL_SECONDS,
      logger,
      metrics,
      // New failure kinds alert at once; every letter counts toward the dead-letter rate.
      onDeadLetter: alerts.onDeadLetter,
      jobLogs: config.WORKER_JOB_LOG_LINES > 0 ? { maxLines: config.WORKER_JOB_LOG_LINES } : false,
      ...(config.WORKER_METRICS_DATA_POINTS > 0
        ? { queueMetrics: { maxDataPoints: config.WORKER_METRICS_DATA_POINTS } }
        : {}),
      ...(telemetry
        ? {
            telemetry: telemetry.bullmq,
            onJobStart: telemetry.jobStartHook((p) => ({ 'bullpen.upload_id': uploadIdOf(p) })),
          }
        : {}),
    },
  );

  let closing: Promise<{ handedBack: number }> | undefined;
  let ops: OpsServer;
  try {
    ops = await startOpsServer({
      host: config.WORKER_HTTP_HOST,
      port: config.WORKER_HTTP_PORT,
      register: metrics.register,
      isHealthy: () => !closing,
    });
  } catch (err) {
    await worker.close({ deadlineMs: 0 });
    await alerts.close();
    await producer.close();
    if (!deps.workerConnection) await closeRedis(workerConnection);
    if (!deps.producerConnection) await closeRedis(producerConnection);
    throw err;
  }

  return {
    worker,
    metrics,
    logger,
    httpPort: ops.port,
    close(opts = {}) {
      closing ??= (async () => {
        const result = await worker.close({ deadlineMs: opts.deadlineMs ?? config.WORKER_SHUTDOWN_GRACE_MS });
        await alerts.close();
        await producer.close();
        await ops.close();
        if (!deps.workerConnection) await closeRedis(workerConnection);
        if (!deps.producerConnection) await closeRedis(producerConnection);
        return result;
      })();
      return closing;
    },
  };
}
