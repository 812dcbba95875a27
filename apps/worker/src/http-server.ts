import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Registry as PromRegistry } from 'prom-client';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

export interface OpsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * `/healthz` (200 while serving, 503 once shutting down) and `/metrics` (Prometheus), on a small port. Every
 * error is `{ "error": { "code", "message", "requestId" } }`, as in the API, and repeats nothing of the request.
 */
export async function startOpsServer(opts: {
  host: string;
  port: number;
  register: PromRegistry;
  isHealthy: () => boolean;
}): Promise<OpsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', requestId);
    const fail = (status: number, code: string, message: string) => {
      const body = JSON.stringify({ error: { code, message, requestId } });
      res
        .writeHead(status, {
          'content-type': 'application/json; charset=utf-8',
          'content-length': Buffer.byteLength(body),
        })
        .end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(405, 'METHOD_NOT_ALLOWED', 'Method not allowed');
    if (path === '/healthz') {
      if (!opts.isHealthy()) return fail(503, 'NOT_READY', 'The worker is shutting down');
      return res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    }
    if (path === '/metrics') {
      opts.register.metrics().then(
        (text) => res.writeHead(200, { 'content-type': opts.register.contentType }).end(text),
        () => fail(500, 'INTERNAL_ERROR', 'Internal server error'),
      );
      return;
    }
    return fail(404, 'NOT_FOUND', 'No such route');
  });
  // Requests Node's parser refuses (a header over 16 KiB, a CR or LF in a header...): the same shape, no echo.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, code, message] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'REQUEST_HEADERS_TOO_LARGE', 'The request headers are too large']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'REQUEST_TIMEOUT', 'The request did not arrive in time']
          : [400, 'REQUEST_INVALID', 'The request is invalid'];
    const requestId = randomUUID();
    const body = JSON.stringify({ error: { code, message, requestId } });
    if (socket.writable) {
      socket.write(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
