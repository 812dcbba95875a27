import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { fileUpload, makeImage, multipart, rawExchange, useApiApp } from './helpers.ts';

const SHAPE = {
  error: { code: expect.stringMatching(/^[A-Z_]+$/), message: expect.any(String), requestId: expect.any(String) },
};
/** What an answer must never contain: the marker every hostile request below carries. */
const MARK = 'zq9marker';

describe('every answer in the error shape, echoing nothing (issue 10, defect 6)', () => {
  const api = useApiApp();

  async function listen() {
    const app = await api.start();
    await app.listen({ host: '127.0.0.1', port: 0 });
    return { app, port: (app.server.address() as net.AddressInfo).port };
  }

  const expectShape = (res: { status: number; body: string; raw: string }, status: number, code: string) => {
    expect(res.status, res.raw.slice(0, 300)).toBe(status);
    const json = JSON.parse(res.body);
    expect(json).toEqual(SHAPE);
    expect(json.error.code).toBe(code);
    expect(res.raw).not.toContain(MARK);
  };

  it('answers what Node’s HTTP parser refuses (431, 400) in the shape, over a real socket', async () => {
    const { port } = await listen();
    // A 1 MB header: Fastify's own body before the fix.
    const big = await rawExchange(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${MARK.repeat(100_000)}\r\n\r\n`);
    expectShape(big, 431, 'REQUEST_HEADERS_TOO_LARGE');
    expect(big.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    // A CR LF inside a header value (a header injection), a bare CR, a malformed request line.
    for (const request of [
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: b\r\n<${MARK}>\r\n\r\n`,
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: ${MARK}\rInjected: 1\r\n\r\n`,
      `GET /${MARK} HTTP/1.1 extra\r\nHost: x\r\n\r\n`,
      `${MARK}\r\n\r\n`,
    ]) {
      expectShape(await rawExchange(port, request), 400, 'REQUEST_INVALID');
    }
  });

  it('answers a 5 KB path, a bad URL escape and an unknown route without repeating the path', async () => {
    const { port } = await listen();
    const long = await rawExchange(port, `GET /uploads/${MARK.repeat(560)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expectShape(long, 414, 'REQUEST_URL_TOO_LONG');
    expectShape(await rawExchange(port, `GET /uploads/%c0${MARK} HTTP/1.1\r\nHost: x\r\n\r\n`), 400, 'REQUEST_INVALID');
    const unknown = await rawExchange(port, `GET /<script>${MARK} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expectShape(unknown, 404, 'NOT_FOUND');
    expect(unknown.raw).not.toContain('<script>');
  });

  it('never repeats a field name, a field value, a Content-Type or a body in an answer', async () => {
    const app = await api.start();
    const image = await makeImage('png', 32, 32);
    const cases: [string, { payload: Buffer | string; headers: Record<string, string> }, number, string][] = [
      [
        'an unknown field',
        fileUpload(image, 'a.png', 'image/png', { [`<b>${MARK}`]: '1' }),
        400,
        'UPLOAD_FIELD_INVALID',
      ],
      ['a bad size', fileUpload(image, 'a.png', 'image/png', { sizes: `128,<b>${MARK}` }), 400, 'UPLOAD_FIELD_INVALID'],
      [
        'a repeated unknown field',
        multipart([
          { name: MARK, data: 'a' },
          { name: MARK, data: 'b' },
          { name: 'file', filename: 'a.png', data: image },
        ]),
        400,
        'UPLOAD_FIELD_INVALID',
      ],
      [
        'a bad callback URL',
        fileUpload(image, 'a.png', 'image/png', { callbackUrl: `javascript:${MARK}` }),
        400,
        'UPLOAD_FIELD_INVALID',
      ],
      [
        'a JSON body',
        { payload: `{"${MARK}":`, headers: { 'content-type': 'application/json' } },
        400,
        'REQUEST_INVALID',
      ],
      [
        'an odd Content-Type',
        { payload: MARK, headers: { 'content-type': `text/${MARK}` } },
        415,
        'UPLOAD_NOT_MULTIPART',
      ],
    ];
    for (const [label, req, status, code] of cases) {
      const res = await app.inject({ method: 'POST', url: '/uploads', payload: req.payload, headers: req.headers });
      expect(res.statusCode, `${label}: ${res.body}`).toBe(status);
      expect(res.json(), label).toEqual(SHAPE);
      expect(res.json().error.code, label).toBe(code);
      expect(res.body, label).not.toContain(MARK);
    }
  });

  it('answers a request arriving while the API shuts down with 503 SERVICE_STOPPING in the shape', async () => {
    const { app, port } = await listen();
    // A request in flight keeps its connection open; a second one pipelined behind it arrives while closing.
    const socket = net.connect(port, '127.0.0.1');
    let raw = '';
    socket.on('data', (d) => {
      raw += d.toString();
    });
    await new Promise((r) => socket.once('connect', r));
    const body = Buffer.alloc(10_000, 7);
    socket.write(
      `POST /uploads HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    await new Promise((r) => setTimeout(r, 100));
    const closing = app.close();
    await new Promise((r) => setTimeout(r, 100));
    socket.write(Buffer.concat([body, Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')]));
    await new Promise((r) => socket.once('close', r));
    await closing;
    const answers = raw.split(/(?=HTTP\/1\.1 )/);
    expect(answers).toHaveLength(2);
    expect(answers[1]).toMatch(/^HTTP\/1\.1 503/);
    expect(JSON.parse(answers[1]!.split('\r\n\r\n')[1]!)).toMatchObject({ error: { code: 'SERVICE_STOPPING' } });
  });
});
