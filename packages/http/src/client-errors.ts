import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { COMMON_HTTP_ERRORS, type CommonErrorCode, errorBody } from './errors.ts';

/** The answer to a malformed request, from what Node's HTTP parser (or Fastify's router) says about it. */
function clientErrorCode(code: string | undefined): CommonErrorCode {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 'REQUEST_HEADERS_TOO_LARGE';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 'REQUEST_TIMEOUT';
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return 'REQUEST_URL_TOO_LONG';
    case 'FST_ERR_ASYNC_CONSTRAINT':
      return 'INTERNAL_ERROR';
    default:
      return 'REQUEST_INVALID';
  }
}

/**
 * Node answers requests its parser refuses (a header over `maxHeaderSize`: 431, a CR or LF in a header, a
 * bad request line: 400, the request timeout: 408) before Fastify sees them, with bodies of its own. This
 * answers them in the apps' error shape instead, naming nothing of the request, and closes the connection.
 * Bound to the Fastify instance (Fastify's `clientErrorHandler` option).
 */
export function clientErrorHandler(this: { log: FastifyBaseLogger }, err: NodeJS.ErrnoException, socket: Duplex): void {
  // A reset connection has nobody to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const code = clientErrorCode(err.code);
  const requestId = randomUUID();
  // Only the parser's code: the error carries the raw bytes of the request (rawPacket), which are not logged.
  this.log.info({ code, parserCode: err.code, requestId }, 'request.malformed');
  const { status, message } = COMMON_HTTP_ERRORS[code];
  const body = JSON.stringify(errorBody(code, message, requestId));
  // A response already under way (a request timing out mid-answer) cannot be replaced.
  const current = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !current?.headersSent) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/**
 * Fastify's `frameworkErrors`: a URL that cannot be decoded (FST_ERR_BAD_URL) or a path parameter over
 * `maxParamLength` (FST_ERR_MAX_PARAM_LENGTH, 414) is answered in the apps' shape; Fastify's own answer
 * would echo the path.
 */
export function frameworkErrorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const code = clientErrorCode(err.code);
  req.log.info({ code, fastifyCode: err.code }, 'request.rejected');
  const { status, message } = COMMON_HTTP_ERRORS[code];
  void reply
    .code(status)
    .header('x-request-id', req.id)
    .send(errorBody(code, message, req.id));
}
