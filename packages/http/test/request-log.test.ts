import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { RequestLog } from '../src/index.ts';

interface Line {
  level: number;
  msg: string;
  method?: string;
  path?: string;
  status?: number;
  ms?: number;
}

const warnings: Error[] = [];
const onWarning = (w: Error) => warnings.push(w);
let close: (() => Promise<unknown>) | undefined;

afterEach(async () => {
  process.off('warning', onWarning);
  await close?.();
  close = undefined;
});

/** A real server on a free loopback port, its log lines captured; Fastify's warnings collected meanwhile. */
async function serve() {
  process.on('warning', onWarning);
  const lines: Line[] = [];
  const app = Fastify({
    logger: { level: 'debug', stream: { write: (s: string) => lines.push(JSON.parse(s) as Line) } },
    logController: new RequestLog(),
  });
  app.get('/ok', async () => ({ ok: true }));
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/boom', async () => {
    throw new Error('boom');
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  close = () => app.close();
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const get = async (path: string) => (await fetch(base + path)).status;
  return { lines, get, requestLines: () => lines.filter((l) => l.msg === 'request.done') };
}

describe('one log line per request (issue 15)', () => {
  it('logs each request once, with its method, path without the query, status and duration', async () => {
    const { get, requestLines } = await serve();
    expect(await get('/ok?token=secret')).toBe(200);
    expect(await get('/nope')).toBe(404);
    await expect.poll(() => requestLines().length, { timeout: 10_000 }).toBe(2);
    const [ok, missing] = requestLines();
    expect(ok).toMatchObject({ level: 30, msg: 'request.done', method: 'GET', path: '/ok', status: 200 });
    expect(typeof ok!.ms).toBe('number');
    expect(JSON.stringify(ok)).not.toContain('secret');
    expect(missing).toMatchObject({ level: 30, msg: 'request.done', path: '/nope', status: 404 });
  });

  it('logs probes at debug, and an error once with its status', async () => {
    const { get, lines, requestLines } = await serve();
    expect(await get('/healthz')).toBe(200);
    expect(await get('/boom')).toBe(500);
    await expect.poll(() => requestLines().length, { timeout: 10_000 }).toBe(2);
    expect(requestLines().map((l) => [l.level, l.path, l.status])).toEqual([
      [20, '/healthz', 200],
      [30, '/boom', 500],
    ]);
    expect(lines.some((l) => l.msg === 'incoming request' || l.msg === 'request completed')).toBe(false);
  });

  it('uses no deprecated Fastify option', async () => {
    await serve();
    // Fastify emits its deprecation warnings on the next tick of creating the app.
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings.map((w) => (w as Error & { code?: string }).code ?? w.message)).toEqual([]);
  });
});
