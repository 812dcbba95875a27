import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Probes and scrapes: every few seconds, all day; logged at debug only. */
const QUIET = new Set(['/healthz', '/readyz', '/metrics', '/favicon.ico']);

/**
 * One log line per request (`request.done`: method, path without its query, status, milliseconds), instead of
 * Fastify's two multi-line entries; health checks and scrapes at debug. For an app made with
 * `disableRequestLogging: true`.
 */
export function logRequests(app: FastifyInstance): void {
  app.addHook('onResponse', async (req: FastifyRequest, reply: FastifyReply) => {
    const path = req.url.split('?', 1)[0]!;
    const line = { method: req.method, path, status: reply.statusCode, ms: Math.round(reply.elapsedTime) };
    if (QUIET.has(path)) req.log.debug(line, 'request.done');
    else req.log.info(line, 'request.done');
  });
}
