import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry as PromRegistry } from 'prom-client';

export interface OpsServer {
  port: number;
  close(): Promise<void>;
}

/** `/healthz` (200 while serving, 503 once shutting down) and `/metrics` (Prometheus), on a small port. */
export async function startOpsServer(opts: {
  host: string;
  port: number;
  register: PromRegistry;
  isHealthy: () => boolean;
}): Promise<OpsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: { code: 'METHOD_NOT_ALLOWED' } });
    if (path === '/healthz') {
      return opts.isHealthy()
        ? json(200, { status: 'ok' })
        : json(503, { error: { code: 'NOT_READY', message: 'shutting down' } });
    }
    if (path === '/metrics') {
      opts.register.metrics().then(
        (text) => res.writeHead(200, { 'content-type': opts.register.contentType }).end(text),
        () => json(500, { error: { code: 'INTERNAL_ERROR' } }),
      );
      return;
    }
    return json(404, { error: { code: 'NOT_FOUND' } });
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
