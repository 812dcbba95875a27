import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { alertOptionsOf, type DashboardConfig, logFormatFor, redisTargetOf } from '@bullpen/config';
import { clientErrorHandler, frameworkErrorHandler, RequestLog } from '@bullpen/http';
import {
  closeRedis,
  createAlerts,
  createJobAdmin,
  createMetrics,
  createRedisConnection,
  type JobMetrics,
  loggerOptions,
  type RedisClient,
  type Registry,
} from '@bullpen/jobs';
import type { AppTelemetry } from '@bullpen/observability';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { assetRoutes } from './assets.ts';
import { installAuth } from './auth.ts';
import { registerBoards } from './board.ts';
import type { DashboardContext } from './context.ts';
import { notFound, redisUnavailable } from './errors.ts';
import { sendErrorPage } from './layout.ts';
import { LoginLimiter } from './login-limiter.ts';
import { describeError, isApiRequest } from './reply-error.ts';
import { apiRoutes } from './routes/api.ts';
import { auditAndSearchPages } from './routes/audit-search-pages.ts';
import { deadLetterPages } from './routes/dead-letter-pages.ts';
import { loginRoutes } from './routes/login.ts';
import { scheduleAndCancelPages } from './routes/schedule-cancel-pages.ts';
import { SessionStore } from './sessions.ts';
import { parseUsers, UserDirectory } from './users.ts';
import { APP_VERSION } from './version.ts';

export interface AppDeps {
  /** A Redis connection (role `admin`); when given, the app does not close it. Default: one made from the config. */
  connection?: RedisClient;
  /** The jobs to show: the application's registry. */
  registry: Registry;
  /** Default: a fresh metric set. */
  metrics?: JobMetrics;
  /** A pino logger for Fastify. Default: one made from LOG_LEVEL / LOG_FORMAT. */
  logger?: Logger;
  /** Tracing, when `startTelemetry` started it (before this app was built); none: nothing traced. */
  telemetry?: AppTelemetry;
}

/** The dashboard: Bull Board behind login, dead-letter pages, audit log, search and an HTTP API. */
export async function buildApp(config: DashboardConfig, deps: AppDeps): Promise<FastifyInstance> {
  const ownConnection = !deps.connection;
  const connection = deps.connection ?? createRedisConnection(redisTargetOf(config), 'admin');
  const { registry } = deps;
  const metrics = deps.metrics ?? createMetrics();
  const prefix = config.BULLPEN_PREFIX;
  const authDisabled = config.DASHBOARD_AUTH_DISABLED;
  // Auth off: no configured secret is required, and sessions need not outlive the process.
  const secret = config.DASHBOARD_SESSION_SECRET ?? randomBytes(32).toString('base64url');

  const app: FastifyInstance = Fastify({
    ...(deps.logger
      ? { loggerInstance: deps.logger as unknown as FastifyBaseLogger }
      : {
          logger: loggerOptions({
            name: 'dashboard',
            level: config.LOG_LEVEL,
            format: logFormatFor(config),
            ...(deps.telemetry ? { mixin: deps.telemetry.logMixin } : {}),
          }),
        }),
    genReqId: () => randomUUID(),
    bodyLimit: 1024 * 1024,
    // Answers of Node's parser and of Fastify's router in the error shape (Fastify's own echo the request).
    clientErrorHandler,
    frameworkErrors: frameworkErrorHandler,
    // One line per request (request.done) instead of Fastify's two.
    logController: new RequestLog(),
  }) as unknown as FastifyInstance;

  const admin = createJobAdmin(registry, {
    connection,
    prefix,
    metrics,
    logger: app.log as unknown as Logger,
    ...(deps.telemetry ? { telemetry: deps.telemetry.bullmq } : {}),
  });
  // The periodic alert checks take turns with the api and the workers (one process at a time).
  const alerts = createAlerts(registry, {
    ...alertOptionsOf(config, APP_VERSION),
    connection,
    logger: app.log as unknown as Logger,
    metrics,
  });
  const ctx: DashboardContext = {
    config,
    registry,
    admin,
    sessions: new SessionStore(connection, prefix, secret, config.DASHBOARD_SESSION_TTL_SECONDS),
    users: new UserDirectory(parseUsers(config.DASHBOARD_USERS)),
    limiter: new LoginLimiter(connection, prefix, config.DASHBOARD_LOGIN_MAX_PER_MINUTE),
    metrics,
    authDisabled,
    secret,
    redisLost: () => lost,
  };
  // Without a listener ioredis prints every failed reconnect; one line per outage window is enough.
  let lastRedisError = 0;
  const onRedisError = (err: Error) => {
    if (Date.now() - lastRedisError < 10_000) return;
    lastRedisError = Date.now();
    app.log.warn({ err }, 'redis.connection_error');
  };
  connection.on('error', onRedisError);
  // Lost from a dropped connection until the next 'ready' (not during the first connect at start-up); ioredis's
  // status alone flips between 'reconnecting' and 'connecting' while it retries.
  let lost = false;
  const onClose = () => {
    lost = true;
  };
  const onReady = () => {
    lost = false;
  };
  connection.on('close', onClose);
  connection.on('ready', onReady);
  metrics.watchQueues(registry.queues.flatMap((q) => [admin.queues.get(q), admin.queues.dead(q)]));

  app.addHook('onClose', async () => {
    connection.off('error', onRedisError);
    connection.off('close', onClose);
    connection.off('ready', onReady);
    await alerts.close();
    await admin.close();
    if (ownConnection) await closeRedis(connection);
  });

  await app.register(cookie);
  await app.register(formbody);

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'same-origin');
    return payload;
  });

  function sendError(err: unknown, req: FastifyRequest, reply: FastifyReply) {
    if (!isApiRequest(req) && req.identity) return sendErrorPage(ctx, req, reply, err);
    const d = describeError(err, String(req.id));
    if (d.body.error.code === 'REDIS_UNAVAILABLE') req.log.warn({ err }, 'request.redis_unavailable');
    else if (d.status >= 500) req.log.error({ err }, 'request.failed');
    return reply.code(d.status).headers(d.headers).send(d.body);
  }
  app.setErrorHandler((err, req, reply) => sendError(err, req, reply));
  app.setNotFoundHandler((req, reply) => sendError(notFound('No such page'), req, reply));

  // Hooks first: every route registered below, Bull Board's included, is behind them.
  installAuth(app, ctx);

  app.get('/healthz', { config: { public: true } }, async (_req, reply) => {
    try {
      if (ctx.redisLost()) throw redisUnavailable();
      await connection.ping();
      return { status: 'ok' };
    } catch {
      return reply.code(503).send({ status: 'unavailable', redis: 'unreachable' });
    }
  });

  // Counts and timings per queue and job name only: no payloads, ids or users. A token guards it when set.
  app.get('/metrics', { config: { public: true } }, async (req, reply) => {
    const token = config.DASHBOARD_METRICS_TOKEN;
    if (token) {
      const given = Buffer.from(String(req.headers.authorization ?? ''));
      const want = Buffer.from(`Bearer ${token}`);
      if (given.length !== want.length || !timingSafeEqual(given, want)) {
        return reply
          .code(401)
          .send({ error: { code: 'AUTH_REQUIRED', message: 'Bearer token required', requestId: req.id } });
      }
    }
    return reply.type(metrics.register.contentType).send(await metrics.register.metrics());
  });

  assetRoutes(app);
  loginRoutes(app, ctx);
  apiRoutes(app, ctx);
  deadLetterPages(app, ctx);
  auditAndSearchPages(app, ctx);
  scheduleAndCancelPages(app, ctx);
  await registerBoards(app, ctx);
  return app;
}
