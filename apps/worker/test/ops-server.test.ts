import net from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { type OpsServer, startOpsServer } from '../src/http-server.ts';

/** One raw request over a real socket; resolves with the answer when the server closes or it is complete. */
function raw(port: number, request: string): Promise<{ status: number; body: string; all: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let all = '';
    const done = () => {
      socket.destroy();
      const [head = '', body = ''] = all.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), body, all });
    };
    socket.on('data', (d) => {
      all += d.toString('latin1');
      const cut = all.indexOf('\r\n\r\n');
      const length = /content-length: *(\d+)/i.exec(all.slice(0, cut));
      if (cut >= 0 && length && all.length - cut - 4 >= Number(length[1])) done();
    });
    socket.on('error', done);
    socket.on('close', done);
    socket.on('connect', () => socket.write(request));
  });
}

describe("the worker's /healthz and /metrics server (issue 10, defect 6)", () => {
  let ops: OpsServer | undefined;
  afterEach(async () => {
    await ops?.close();
    ops = undefined;
  });

  it('answers every error in the documented shape and repeats nothing of the request', async () => {
    ops = await startOpsServer({ host: '127.0.0.1', port: 0, register: new Registry(), isHealthy: () => false });
    const mark = 'zq9marker';
    for (const [request, status, code] of [
      [`GET /${mark} HTTP/1.1\r\nHost: x\r\n\r\n`, 404, 'NOT_FOUND'],
      [`DELETE /healthz?${mark} HTTP/1.1\r\nHost: x\r\n\r\n`, 405, 'METHOD_NOT_ALLOWED'],
      ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 503, 'NOT_READY'],
      [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${mark.repeat(3000)}\r\n\r\n`, 431, 'REQUEST_HEADERS_TOO_LARGE'],
      [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: b\r\n<${mark}>\r\n\r\n`, 400, 'REQUEST_INVALID'],
    ] as const) {
      const res = await raw(ops.port, request);
      expect(res.status, res.all.slice(0, 200)).toBe(status);
      expect(JSON.parse(res.body)).toEqual({
        error: { code, message: expect.any(String), requestId: expect.any(String) },
      });
      expect(res.all).not.toContain(mark);
    }
  });
});
