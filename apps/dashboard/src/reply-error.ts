import { type DescribedError, describeError as describeWith } from '@bullpen/http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { dashboardErrors } from './errors.ts';

export type { ErrorBody } from '@bullpen/http';

/** Requests answered with JSON: the HTTP API, Bull Board's API, static assets and metrics. */
export function isApiRequest(req: FastifyRequest): boolean {
  const path = req.url.split('?', 1)[0]!;
  return /(^|\/)api(\/|$)/.test(path) || path.includes('/static/') || path === '/metrics';
}

/** The status, code and message of any thrown value (the dashboard's registry); unknown errors become a 500. */
export function describeError(thrown: unknown, requestId: string): DescribedError {
  return describeWith(dashboardErrors, thrown, requestId);
}

/** Sends an error as JSON (hooks use it: Bull Board's own error handler must not reshape ours). */
export function sendJsonError(reply: FastifyReply, err: unknown) {
  const { status, headers, body, unexpected } = describeError(err, String(reply.request.id));
  if (body.error.code === 'REDIS_UNAVAILABLE') reply.request.log.warn({ err }, 'request.redis_unavailable');
  else if (unexpected) reply.request.log.error({ err }, 'request.failed');
  return reply.code(status).headers(headers).type('application/json').send(body);
}
