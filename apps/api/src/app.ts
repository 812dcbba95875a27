import { randomUUID } from 'node:crypto';
import { type ApiConfig, alertOptionsOf, logFormatFor, redisTargetOf } from '@bullpen/config';
import { clientErrorHandler, describeError, errorBody, frameworkErrorHandler, RequestLog } from '@bullpen/http';
import {
  closeRedis,
  createAlerts,
  createJobAdmin,
  createMetrics,
  createProducer,
  createRedisConnection,
  type JobMetrics,
  loggerOptions,
  type RedisClient,
} from '@bullpen/jobs';
import type { AppTelemetry } from '@bullpen/observability';
import { createStorage, type Storage } from '@bullpen/storage';
import { IdempotencyStore, registry, UploadRecords } from '@bullpen/uploads';
import fastifyMultipart from '@fastify/multipart';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import underPressure from '@fastify/under-pressure';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Histogram } from 'prom-client';
import { ApiError, apiErrors } from './errors.ts';
import { healthRoutes } from './routes/health.ts';
import { pageRoutes } from './routes/page.ts';
import { uploadRoutes } from './routes/uploads.ts';
import { APP_VERSION } from './version.ts';
import { jsonSerializerCompiler, zodSwaggerTransform, zodValidatorCompiler } from './zod-schema.ts';

export interface ApiDeps {
  /** A `producer` connection; made from the config (and closed with the app) when absent. */
  redis?: RedisClient;
  /** Default: the one STORAGE_URL or STORAGE_DIR names (`createStorage`). */
  storage?: Storage;
  metrics?: JobMetrics;
  /** Tracing, when `startTelemetry` started it (before this app was built); none: nothing traced. */
  telemetry?: AppTelemetry;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The API as a Fastify instance, ready for `inject()` or `listen()`. */
export async function buildApp(config: ApiConfig, deps: ApiDeps = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: loggerOptions({
      name: 'api',
      level: config.LOG_LEVEL,
      format: logFormatFor(config),
      ...(deps.telemetry ? { mixin: deps.telemetry.logMixin } : {}),
    }),
    // A caller's X-Request-Id is kept when it is sane, so one upload can be followed across systems.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // Multipart bodies are streamed and capped by @fastify/multipart; this caps the others.
    bodyLimit: 64 * 1024,
    // Node's default, stated: a request head over 16 KiB is answered 431 by clientErrorHandler.
    http: { maxHeaderSize: 16 * 1024 },
    // A backstop behind the upload watchdog for any request whose body never ends (Fastify's default: none).
    requestTimeout: config.UPLOAD_DEADLINE_MS + 60_000,
    // Answers of Node's parser and of Fastify's router in the API's shape (Fastify's own echo the request).
    clientErrorHandler,
    frameworkErrors: frameworkErrorHandler,
    // Fastify's own 503 while closing has its own body: the onRequest hook below answers instead.
    return503OnClosing: false,
    // One line per request (request.done) instead of Fastify's two.
    logController: new RequestLog(),
  });
  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(jsonSerializerCompiler);

  const redis = deps.redis ?? createRedisConnection(redisTargetOf(config), 'producer');
  const ownsRedis = !deps.redis;
  redis.on('error', (err: Error) => app.log.warn({ err }, 'redis.error'));
  const storage = deps.storage ?? (await createStorage(config));
  const metrics = deps.metrics ?? createMetrics();
  if (!deps.metrics) collectDefaultMetrics({ register: metrics.register });
  const producer = createProducer(registry, {
    connection: redis,
    prefix: config.BULLPEN_PREFIX,
    maxBacklog: config.QUEUE_MAX_BACKLOG,
    metrics,
    ...(deps.telemetry ? { telemetry: deps.telemetry.bullmq } : {}),
  });
  // The periodic checks take turns with the workers and the dashboard (one process at a time).
  const alerts = createAlerts(registry, {
    ...alertOptionsOf(config, APP_VERSION),
    connection: redis,
    logger: app.log as unknown as Logger,
    metrics,
  });
  for (const q of registry.queues) metrics.watchQueues([producer.queue(q), producer.queues.dead(q)]);
  // DELETE /uploads/:id cancels the upload's job wherever it is (and audits it).
  const admin = createJobAdmin(registry, { connection: redis, prefix: config.BULLPEN_PREFIX });
  const records = new UploadRecords(redis, config.BULLPEN_PREFIX);
  const idempotency = new IdempotencyStore(
    redis,
    config.BULLPEN_PREFIX,
    config.IDEMPOTENCY_TTL_SECONDS,
    config.IDEMPOTENCY_LEASE_MS,
  );
  // Temporary files of a process killed mid-upload: at start, then every quarter of their age limit.
  const sweepTemp = () =>
    storage.sweepTemp(config.UPLOAD_TEMP_MAX_AGE_MS).then(
      (removed) => removed > 0 && app.log.info({ removed }, 'storage.temp_swept'),
      (err) => app.log.warn({ err }, 'storage.sweep_failed'),
    );
  const sweeping = setInterval(sweepTemp, Math.max(1000, config.UPLOAD_TEMP_MAX_AGE_MS / 4));
  sweeping.unref();
  void sweepTemp();
  app.addHook('onClose', async () => {
    clearInterval(sweeping);
    await alerts.close();
    await producer.close();
    await admin.close();
    if (ownsRedis) await closeRedis(redis);
  });

  const httpDuration = new Histogram({
    name: 'bullpen_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [metrics.register],
  });
  app.addHook('onResponse', async (req, reply) => {
    httpDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const multipart =
      err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || err.code === 'FST_INVALID_MULTIPART_CONTENT_TYPE';
    const d = describeError(
      apiErrors,
      multipart && req.routeOptions.url === '/uploads' ? new ApiError('UPLOAD_NOT_MULTIPART') : err,
      req.id,
    );
    const { code, message } = d.body.error;
    if (d.unexpected) req.log.error({ err }, 'request.failed');
    else if (d.status >= 500) req.log.warn({ code, err }, 'request.refused');
    else {
      const cause = err.cause instanceof Error ? err.cause.message.split('\n')[0]!.slice(0, 200) : undefined;
      req.log.info({ code, reason: message, ...(cause ? { cause } : {}) }, 'request.rejected');
    }
    return reply.code(d.status).headers(d.headers).send(d.body);
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send(errorBody('NOT_FOUND', 'No such route', req.id)));
  // Requests that still arrive on open connections while the server drains.
  let stopping = false;
  app.addHook('preClose', async () => {
    stopping = true;
  });
  app.addHook('onRequest', async () => {
    if (stopping) throw new ApiError('SERVICE_STOPPING', undefined, { 'retry-after': '1', connection: 'close' });
  });

  await app.register(underPressure, {
    maxEventLoopDelay: config.API_MAX_EVENT_LOOP_DELAY_MS,
    maxHeapUsedBytes: config.API_MAX_HEAP_BYTES,
    sampleInterval: 250,
    pressureHandler: async (_req, _reply, type) => {
      throw new ApiError('SERVICE_OVERLOADED', `The server is overloaded (${type}); retry later`, {
        'retry-after': '5',
      });
    },
  });
  await app.register(fastifyMultipart, { throwFileSizeLimit: true });
  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'Bullpen API',
        version: '0.1.0',
        description: 'Image uploads, resized in the background by Bullpen workers.',
      },
      tags: [
        { name: 'uploads', description: 'Upload images and follow their processing' },
        { name: 'operations', description: 'Health, readiness and metrics' },
      ],
    },
    transform: zodSwaggerTransform as never,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  const publicUrl = config.API_PUBLIC_URL?.replace(/\/$/, '') ?? '';
  await app.register(pageRoutes);
  await app.register(healthRoutes, {
    redis,
    register: metrics.register,
    probeKey: `${config.BULLPEN_PREFIX}:api:readyz`,
  });
  await app.register(uploadRoutes, {
    storage,
    records,
    producer,
    admin,
    idempotency,
    maxBytes: config.UPLOAD_MAX_BYTES,
    transfer: {
      idleTimeoutMs: config.UPLOAD_IDLE_TIMEOUT_MS,
      deadlineMs: config.UPLOAD_DEADLINE_MS,
      minBytesPerSecond: config.UPLOAD_MIN_BYTES_PER_SECOND,
      rateWindowMs: config.UPLOAD_RATE_WINDOW_MS,
    },
    maxPixels: config.UPLOAD_MAX_PIXELS,
    allowPrivateCallbacks: config.CALLBACK_ALLOW_PRIVATE,
    publicUrl,
    // A connection that was up and dropped; one still connecting at start-up is waited for as usual.
    redisLost: () => ['reconnecting', 'close', 'end'].includes(redis.status),
    ...(deps.telemetry ? { annotate: deps.telemetry.annotate } : {}),
  });
  return app;
}
