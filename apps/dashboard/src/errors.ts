import { BullpenError } from '@bullpen/jobs';

/** Stable error codes the dashboard answers with (public API: listed in the README). */
export const DashboardErrorCode = {
  AUTH_REQUIRED: 'AUTH_REQUIRED',
  AUTH_INVALID_CREDENTIALS: 'AUTH_INVALID_CREDENTIALS',
  AUTH_FORBIDDEN: 'AUTH_FORBIDDEN',
  CSRF_INVALID: 'CSRF_INVALID',
  LOGIN_RATE_LIMITED: 'LOGIN_RATE_LIMITED',
  DASHBOARD_ACTION_DISABLED: 'DASHBOARD_ACTION_DISABLED',
  REQUEST_INVALID: 'REQUEST_INVALID',
  NOT_FOUND: 'NOT_FOUND',
  REDIS_UNAVAILABLE: 'REDIS_UNAVAILABLE',
  INTERNAL_ERROR: 'INTERNAL_ERROR',
} as const;
export type DashboardErrorCode = (typeof DashboardErrorCode)[keyof typeof DashboardErrorCode];

/** An error the dashboard answers with on purpose: a code and an HTTP status. */
export class DashboardError extends BullpenError {
  constructor(
    code: DashboardErrorCode,
    readonly statusCode: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(code, message);
  }
}

export const authRequired = () => new DashboardError('AUTH_REQUIRED', 401, 'Log in first');
export const forbidden = (what = 'This action needs the operator role') =>
  new DashboardError('AUTH_FORBIDDEN', 403, what);
export const csrfInvalid = () =>
  new DashboardError('CSRF_INVALID', 403, 'Missing or invalid CSRF token: reload the page and try again');
export const invalidCredentials = () =>
  new DashboardError('AUTH_INVALID_CREDENTIALS', 401, 'Unknown user or wrong password');
export const loginRateLimited = (retryAfterSeconds: number) =>
  new DashboardError('LOGIN_RATE_LIMITED', 429, `Too many failed logins: try again in ${retryAfterSeconds} s`, {
    'retry-after': String(retryAfterSeconds),
  });
export const actionDisabled = (what: string) =>
  new DashboardError('DASHBOARD_ACTION_DISABLED', 403, `${what} is disabled in the dashboard`);
export const requestInvalid = (message: string) => new DashboardError('REQUEST_INVALID', 400, message);
/** Seconds a client is told to wait when Redis cannot serve. */
export const REDIS_RETRY_AFTER_SECONDS = 5;
export const redisUnavailable = () =>
  new DashboardError(
    'REDIS_UNAVAILABLE',
    503,
    'Redis is unavailable (down, unreachable or out of memory): nothing was changed; try again shortly',
    { 'retry-after': String(REDIS_RETRY_AFTER_SECONDS) },
  );

/** The HTTP status for a framework error code. */
export function statusForCode(code: string): number {
  switch (code) {
    case 'JOB_PAYLOAD_INVALID':
      return 400;
    case 'DEAD_LETTER_NOT_FOUND':
    case 'JOB_UNKNOWN':
    case 'NOT_FOUND':
      return 404;
    case 'QUEUE_UNAVAILABLE':
      return 503;
    default:
      return 500;
  }
}
