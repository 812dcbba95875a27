import type { DashboardConfig } from '@bullpen/config';
import type { JobAdmin, JobMetrics, Registry } from '@bullpen/jobs';
import type { LoginLimiter } from './login-limiter.ts';
import type { SessionStore } from './sessions.ts';
import type { Identity, UserDirectory } from './users.ts';

/** Base paths of the two Bull Board instances: full for operators, read-only for viewers. */
export const BOARD_PATH = '/board';
export const BOARD_READONLY_PATH = '/board-readonly';

/** What the routes share; made once by `buildApp`. */
export interface DashboardContext {
  config: DashboardConfig;
  registry: Registry;
  admin: JobAdmin;
  sessions: SessionStore;
  users: UserDirectory;
  limiter: LoginLimiter;
  metrics: JobMetrics;
  authDisabled: boolean;
  /** Signs sessions and CSRF tokens (a random one per process when auth is off). */
  secret: string;
  /**
   * The connection to Redis was lost and is being retried: requests are answered 503 at once instead of waiting
   * through ioredis's reconnect attempts (seconds per command).
   */
  redisLost(): boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    identity: Identity | undefined;
  }
  interface FastifyContextConfig {
    /** Reachable without a session (login page, health, metrics). */
    public?: boolean;
    /** A file anyone may fetch (stylesheet, icons): no identity is looked up, nothing is redirected. */
    asset?: boolean;
    /** A mutating route a viewer may call (logout). */
    allowViewer?: boolean;
    /** The route checks CSRF itself (the login form). */
    skipCsrf?: boolean;
  }
}

/** The board a role sees. */
export const boardPathFor = (identity: Identity | undefined) =>
  identity?.role === 'operator' ? BOARD_PATH : BOARD_READONLY_PATH;
