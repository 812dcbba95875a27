import { defineErrors, HttpError } from '@bullpen/http';

/**
 * Every error the dashboard answers with: the common codes of `@bullpen/http` and the dashboard's own, each
 * with its HTTP status and default message (public API: listed in the README).
 */
export const dashboardErrors = defineErrors({
  AUTH_REQUIRED: { status: 401, message: 'Log in first' },
  AUTH_INVALID_CREDENTIALS: { status: 401, message: 'Unknown user or wrong password' },
  AUTH_FORBIDDEN: { status: 403, message: 'This action needs the operator role' },
  CSRF_INVALID: { status: 403, message: 'Missing or invalid CSRF token: reload the page and try again' },
  LOGIN_RATE_LIMITED: { status: 429, message: 'Too many failed logins: try again later' },
  DASHBOARD_ACTION_DISABLED: { status: 403, message: 'This action is disabled in the dashboard' },
});

export type DashboardErrorCode = Parameters<typeof dashboardErrors.error>[0];

/** An error the dashboard answers with on purpose: a code of `dashboardErrors`, with its status. */
export class DashboardError extends HttpError {
  constructor(code: DashboardErrorCode, message?: string, headers: Record<string, string> = {}) {
    const made = dashboardErrors.error(code, message, headers);
    super(code, made.statusCode, made.message, made.headers);
  }
}

export const authRequired = () => new DashboardError('AUTH_REQUIRED');
export const forbidden = (what?: string) => new DashboardError('AUTH_FORBIDDEN', what);
export const csrfInvalid = () => new DashboardError('CSRF_INVALID');
export const invalidCredentials = () => new DashboardError('AUTH_INVALID_CREDENTIALS');
export const loginRateLimited = (retryAfterSeconds: number) =>
  new DashboardError('LOGIN_RATE_LIMITED', `Too many failed logins: try again in ${retryAfterSeconds} s`, {
    'retry-after': String(retryAfterSeconds),
  });
export const actionDisabled = (what: string) =>
  new DashboardError('DASHBOARD_ACTION_DISABLED', `${what} is disabled in the dashboard`);
export const requestInvalid = (message: string) => new DashboardError('REQUEST_INVALID', message);
export const notFound = (what = 'Not found') => new DashboardError('NOT_FOUND', what);
export const redisUnavailable = () => new DashboardError('REDIS_UNAVAILABLE');
