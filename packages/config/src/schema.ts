import { z } from 'zod';
import { envBoolean, envInt, envList } from './env.ts';

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');
const logFormat = z.enum(['pretty', 'json']).optional();

/** Redis and the framework settings every app shares. */
export const redisSchema = z
  .object({
    REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
    /** Comma-separated `host:port` seed nodes; when set, Bullpen talks to a Redis Cluster. */
    REDIS_CLUSTER_NODES: envList([]),
    /** Key prefix of every Bullpen key. Wrap it in braces (`{bullpen}`) on Redis Cluster. */
    BULLPEN_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_{}.-]{1,64}$/, 'letters, digits, _ . - and { } only')
      .default('bullpen'),
    /** How long the idempotency ledger keeps finished steps, in seconds (default 7 days). */
    LEDGER_TTL_SECONDS: envInt(7 * 24 * 3600, 60),
    /** Refuse to start when Redis is older than 6.2 or may evict keys. */
    REDIS_CHECK: envBoolean(true),
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    LOG_LEVEL: logLevel,
    /** `pretty` for people, `json` for machines; default: json in production, pretty elsewhere. */
    LOG_FORMAT: logFormat,
  })
  .superRefine((c, ctx) => {
    if (c.REDIS_CLUSTER_NODES.length > 0 && !/\{[^}]+\}/.test(c.BULLPEN_PREFIX)) {
      ctx.addIssue({
        code: 'custom',
        path: ['BULLPEN_PREFIX'],
        message: 'must carry a hash tag such as {bullpen} when REDIS_CLUSTER_NODES is set',
      });
    }
    for (const node of c.REDIS_CLUSTER_NODES) {
      if (!/^[^:\s]+:\d{1,5}$/.test(node)) {
        ctx.addIssue({ code: 'custom', path: ['REDIS_CLUSTER_NODES'], message: `"${node}" is not host:port` });
      }
    }
  });

/**
 * Where uploads live, for the api and the worker: `s3://bucket/prefix` (then STORAGE_DIR keeps only the
 * staging area of uploads in flight) or `file:///path`; unset, the folder STORAGE_DIR. The bucket's
 * endpoint, region and credentials are the standard AWS variables, which the AWS SDK reads itself.
 */
const storageUrl = z
  .string()
  .regex(/^(s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/\S*)?|file:\/\/\/\S*)$/, 's3://bucket/prefix or file:///path')
  .optional();
/** Path-style S3 requests (`<endpoint>/<bucket>/<key>`), which most self-hosted S3-compatible servers need. */
const storageS3ForcePathStyle = envBoolean(false);

export const apiSchema = z
  .object({
    API_HOST: z.string().default('127.0.0.1'),
    API_PORT: envInt(3000, 0, 65535),
    /** Public base URL used in Location headers and status URLs; default http://API_HOST:API_PORT. */
    API_PUBLIC_URL: z.url().optional(),
    STORAGE_DIR: z.string().default('.data/storage'),
    STORAGE_URL: storageUrl,
    STORAGE_S3_FORCE_PATH_STYLE: storageS3ForcePathStyle,
    UPLOAD_MAX_BYTES: envInt(20 * 1024 * 1024, 1),
    /** An upload whose connection delivers no byte for this long is answered 408 (ms). */
    UPLOAD_IDLE_TIMEOUT_MS: envInt(30_000, 100),
    /**
     * The whole body of an upload must arrive within this long, or it is answered 408 (ms). Default 15 min:
     * a 5 MB photo at 6 KB/s (a phone on a poor 2G link) still passes.
     */
    UPLOAD_DEADLINE_MS: envInt(15 * 60_000, 500),
    /**
     * An upload delivering fewer bytes per second than this over any UPLOAD_RATE_WINDOW_MS is answered 408
     * (slowloris). Default 1024, far below any mobile network; 0 disables.
     */
    UPLOAD_MIN_BYTES_PER_SECOND: envInt(1024, 0),
    /** The window, in ms, over which UPLOAD_MIN_BYTES_PER_SECOND is measured (the first one is a grace). */
    UPLOAD_RATE_WINDOW_MS: envInt(20_000, 100),
    /**
     * Temporary files (partial uploads of a killed process) older than this are removed at start and every
     * quarter of it (ms). Must exceed UPLOAD_DEADLINE_MS, the longest an upload may take. Default 30 min.
     */
    UPLOAD_TEMP_MAX_AGE_MS: envInt(30 * 60_000, 1000),
    /** Largest accepted image, in pixels (width x height). */
    UPLOAD_MAX_PIXELS: envInt(50_000_000, 1),
    /** Allow callbackUrl to point at loopback or private addresses (tests, local development). */
    CALLBACK_ALLOW_PRIVATE: envBoolean(false),
    /** Seconds an Idempotency-Key answer is kept. */
    IDEMPOTENCY_TTL_SECONDS: envInt(24 * 3600, 1),
    /**
     * How long the claim of a request still working on its Idempotency-Key lives without renewal, in ms
     * (renewed every third of it while the request works). A request whose process dies blocks its key for
     * at most this long. Default 10 s.
     */
    IDEMPOTENCY_LEASE_MS: envInt(10_000, 1000, 600_000),
    /** Largest backlog (waiting + delayed + prioritized) per queue before enqueue answers 503. */
    QUEUE_MAX_BACKLOG: envInt(10_000, 1),
    /** Event-loop delay, in ms, over which the API answers 503 (0 disables). */
    API_MAX_EVENT_LOOP_DELAY_MS: envInt(1000, 0),
    /** Heap use, in bytes, over which the API answers 503 (0 disables). */
    API_MAX_HEAP_BYTES: envInt(0, 0),
  })
  .and(redisSchema)
  .superRefine((c, ctx) => {
    if (c.UPLOAD_TEMP_MAX_AGE_MS <= c.UPLOAD_DEADLINE_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['UPLOAD_TEMP_MAX_AGE_MS'],
        message: 'must exceed UPLOAD_DEADLINE_MS (an upload still arriving must never be swept)',
      });
    }
  });

export const workerSchema = z
  .object({
    WORKER_CONCURRENCY: envInt(4, 1, 1000),
    /** Queues this process serves; default: all. */
    WORKER_QUEUES: envList([]),
    /** How long SIGTERM waits for active jobs before handing them back to the queue. */
    WORKER_SHUTDOWN_GRACE_MS: envInt(25_000, 0),
    /** A job's lock lasts this long without renewal; a dead worker's jobs resume after about this. */
    WORKER_LOCK_DURATION_MS: envInt(10_000, 1000),
    WORKER_STALLED_INTERVAL_MS: envInt(5_000, 500),
    /** Port of /healthz and /metrics (0 picks a free port). */
    WORKER_HTTP_PORT: envInt(3001, 0, 65535),
    WORKER_HTTP_HOST: z.string().default('127.0.0.1'),
    STORAGE_DIR: z.string().default('.data/storage'),
    STORAGE_URL: storageUrl,
    STORAGE_S3_FORCE_PATH_STYLE: storageS3ForcePathStyle,
    /** Secret for the HMAC signature of webhooks. */
    WEBHOOK_SECRET: z.string().min(16).default('dev-only-webhook-secret-change-me'),
    WEBHOOK_TIMEOUT_MS: envInt(10_000, 100),
    CALLBACK_ALLOW_PRIVATE: envBoolean(false),
    /** Threads sharp may use; 0: the CPUs this process may use. */
    SHARP_CONCURRENCY: envInt(0, 0, 256),
    /**
     * When a variant cannot be written for want of space (ENOSPC), the job is postponed without spending an
     * attempt: first by this long (ms), doubling each time up to WORKER_STORAGE_FULL_MAX_DELAY_MS, for at
     * most WORKER_STORAGE_FULL_WINDOW_MS from the first time; then its attempts run as usual. Defaults: 5 s,
     * 5 min, 1 h: time for an operator to free space.
     */
    WORKER_STORAGE_FULL_DELAY_MS: envInt(5000, 10),
    WORKER_STORAGE_FULL_MAX_DELAY_MS: envInt(300_000, 10),
    WORKER_STORAGE_FULL_WINDOW_MS: envInt(3_600_000, 0),
    /**
     * Test only: a pause, in ms, between two variants of an image job, so that a test can catch a job
     * mid-resize (SIGKILL, SIGTERM). Leave at 0.
     */
    WORKER_TEST_STEP_DELAY_MS: envInt(0, 0, 60_000),
  })
  .and(redisSchema)
  .superRefine((c, ctx) => {
    if (c.NODE_ENV === 'production' && c.WEBHOOK_SECRET.startsWith('dev-only')) {
      ctx.addIssue({ code: 'custom', path: ['WEBHOOK_SECRET'], message: 'must be set in production' });
    }
    if (c.WORKER_STALLED_INTERVAL_MS > c.WORKER_LOCK_DURATION_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['WORKER_STALLED_INTERVAL_MS'],
        message: 'must not exceed WORKER_LOCK_DURATION_MS',
      });
    }
  });

export const dashboardSchema = z
  .object({
    DASHBOARD_HOST: z.string().default('127.0.0.1'),
    DASHBOARD_PORT: envInt(3002, 0, 65535),
    /**
     * `name:role:hash` entries, comma-separated; role is `viewer` or `operator`, hash is
     * `scrypt.N.r.p.salt.key` (make one with `pnpm --filter @bullpen/dashboard hash-password`).
     */
    DASHBOARD_USERS: envList([]),
    /** Secret that signs session cookies and CSRF tokens: 32 characters or more. */
    DASHBOARD_SESSION_SECRET: z.string().min(32).optional(),
    /** How long a session lasts after login, in seconds (default 8 hours). */
    DASHBOARD_SESSION_TTL_SECONDS: envInt(8 * 3600, 60, 30 * 24 * 3600),
    /** Run without login (local development only); every page then says so. */
    DASHBOARD_AUTH_DISABLED: envBoolean(false),
    /** Mark the session cookie Secure (set when served over TLS). */
    DASHBOARD_COOKIE_SECURE: envBoolean(false),
    /** Failed logins allowed per minute, per client IP and per user name. */
    DASHBOARD_LOGIN_MAX_PER_MINUTE: envInt(5, 1),
    /** When set, `/metrics` asks for `Authorization: Bearer <token>`; unset, it is open (it shows counts only). */
    DASHBOARD_METRICS_TOKEN: z.string().min(16).optional(),
  })
  .and(redisSchema)
  .superRefine((c, ctx) => {
    if (!c.DASHBOARD_AUTH_DISABLED) {
      if (c.DASHBOARD_USERS.length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['DASHBOARD_USERS'],
          message: 'no users: set DASHBOARD_USERS, or DASHBOARD_AUTH_DISABLED=true for local development',
        });
      }
      if (!c.DASHBOARD_SESSION_SECRET) {
        ctx.addIssue({ code: 'custom', path: ['DASHBOARD_SESSION_SECRET'], message: 'required when auth is on' });
      }
    }
    const names = new Set<string>();
    for (const entry of c.DASHBOARD_USERS) {
      const m =
        /^([A-Za-z0-9_.@-]{1,64}):(viewer|operator):(scrypt\.\d+\.\d+\.\d+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(
          entry,
        );
      const name = entry.split(':', 1)[0];
      if (!m) {
        ctx.addIssue({
          code: 'custom',
          path: ['DASHBOARD_USERS'],
          message: `entry for "${name}" is not name:viewer|operator:scrypt.N.r.p.salt.key`,
        });
      } else if (names.has(m[1]!)) {
        ctx.addIssue({ code: 'custom', path: ['DASHBOARD_USERS'], message: `user "${m[1]}" is listed twice` });
      } else {
        names.add(m[1]!);
      }
    }
    if (c.DASHBOARD_AUTH_DISABLED && c.NODE_ENV === 'production') {
      ctx.addIssue({ code: 'custom', path: ['DASHBOARD_AUTH_DISABLED'], message: 'not allowed in production' });
    }
  });

export const schemas = {
  redis: redisSchema,
  api: apiSchema,
  worker: workerSchema,
  dashboard: dashboardSchema,
} as const;

export type Slice = keyof typeof schemas;
export type Config<S extends Slice> = Readonly<z.infer<(typeof schemas)[S]>>;
export type RedisConfig = Config<'redis'>;
export type ApiConfig = Config<'api'>;
export type WorkerConfig = Config<'worker'>;
export type DashboardConfig = Config<'dashboard'>;
