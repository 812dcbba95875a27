import { BullpenError, isRedisUnavailable, JobPayloadInvalidError } from '@bullpen/jobs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DashboardError, redisUnavailable, statusForCode } from './errors.ts';

export interface ErrorBody {
  error: { code: string; message: string; requestId: string; issues?: unknown[] };
}

/** Requests answered with JSON: the HTTP API, Bull Board's API, static assets and metrics. */
export function isApiRequest(req: FastifyRequest): boolean {
  const path = req.url.split('?', 1)[0]!;
  return /(^|\/)api(\/|$)/.test(path) || path.includes('/static/') || path === '/metrics';
}

/** The status, code and message of any thrown value; unknown errors become a generic 500. */
export function describeError(
  thrown: unknown,
  requestId: string,
): { status: number; body: ErrorBody; headers: Record<string, string> } {
  // A framework error with a status of its own (QUEUE_UNAVAILABLE, ...) keeps it; any other Redis failure is a 503.
  const ownStatus =
    thrown instanceof DashboardError || (thrown instanceof BullpenError && statusForCode(thrown.code) !== 500);
  const err = !ownStatus && isRedisUnavailable(thrown) ? redisUnavailable() : thrown;
  if (err instanceof DashboardError) {
    return {
      status: err.statusCode,
      headers: err.headers,
      body: { error: { code: err.code, message: err.message, requestId } },
    };
  }
  if (err instanceof JobPayloadInvalidError) {
    return {
      status: 400,
      headers: {},
      body: {
        error: {
          code: err.code,
          message: err.message,
          requestId,
          issues: err.issues.map((i) => ({ path: i.path, message: i.message, code: i.code })),
        },
      },
    };
  }
  if (err instanceof BullpenError) {
    return {
      status: statusForCode(err.code),
      headers: {},
      body: { error: { code: err.code, message: err.message, requestId } },
    };
  }
  const e = err as { statusCode?: number; message?: string; code?: string };
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    // Fastify's own client errors (bad JSON, body too large, unsupported media type).
    const code = e.statusCode === 404 ? 'NOT_FOUND' : 'REQUEST_INVALID';
    return {
      status: e.statusCode,
      headers: {},
      body: { error: { code, message: e.message ?? 'Bad request', requestId } },
    };
  }
  return {
    status: 500,
    headers: {},
    body: { error: { code: 'INTERNAL_ERROR', message: 'Something went wrong', requestId } },
  };
}

/** Sends an error as JSON (hooks use it: Bull Board's own error handler must not reshape ours). */
export function sendJsonError(reply: FastifyReply, err: unknown) {
  const { status, headers, body } = describeError(err, String(reply.request.id));
  if (body.error.code === 'REDIS_UNAVAILABLE') reply.request.log.warn({ err }, 'request.redis_unavailable');
  else if (status >= 500) reply.request.log.error({ err }, 'request.failed');
  return reply.code(status).headers(headers).type('application/json').send(body);
}
