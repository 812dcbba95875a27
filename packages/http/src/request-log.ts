import { type FastifyReply, type FastifyRequest, LogController } from 'fastify';

/** Probes and scrapes: every few seconds, all day; logged at debug only. */
const QUIET = new Set(['/healthz', '/readyz', '/metrics', '/favicon.ico']);

/**
 * Fastify's request logging as one line per request (`request.done`: method, path without its query, status,
 * milliseconds) instead of its two multi-line entries; health checks and scrapes at debug. Fastify's other
 * per-request lines stay off: each app's error handler logs what it answers. Pass it as the app's
 * `logController` (Fastify 5.12 warns that `disableRequestLogging` is deprecated).
 */
export class RequestLog extends LogController {
  constructor() {
    super({ disableRequestLogging: true });
  }

  override requestCompleted(error: Error | null | undefined, req: FastifyRequest, reply: FastifyReply): void {
    const path = req.url.split('?', 1)[0]!;
    const line = {
      method: req.method,
      path,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
      ...(error ? { err: error } : {}),
    };
    if (QUIET.has(path)) req.log.debug(line, 'request.done');
    else req.log.info(line, 'request.done');
  }
}
