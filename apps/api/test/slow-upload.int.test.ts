import net from 'node:net';
import { useRedisTest, waitFor } from '@bullpen/test-utils';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { apiConfig, filesUnder, jobCount, makeImage, multipart, removeDir, tempDir } from './helpers.ts';

interface Answer {
  raw: string;
  status: number;
  body: unknown;
  /** ms from the first byte sent to the connection's close. */
  elapsedMs: number;
  /** Bytes of the body sent before the server answered. */
  bodyBytesSent: number;
}

/**
 * A real slow sender: the request head at once, then the body `chunkBytes` at a time every `intervalMs`,
 * over one socket, until the server answers and closes (the request asks for `Connection: close`).
 */
function slowUpload(port: number, body: Buffer, contentType: string, chunkBytes: number, intervalMs: number) {
  return new Promise<Answer>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const started = Date.now();
    let raw = '';
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    socket.on('data', (d) => {
      raw += d.toString();
    });
    socket.on('error', (err) => {
      // A reset after the answer (the server stops reading) still carries the answer.
      if (!raw) reject(err);
    });
    socket.on('close', () => {
      clearInterval(timer);
      const [head = '', text = ''] = raw.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
      resolve({ raw, status, body: parsed, elapsedMs: Date.now() - started, bodyBytesSent: sent });
    });
    socket.on('connect', () => {
      socket.write(
        `POST /uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\n` +
          `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
      );
      timer = setInterval(() => {
        if (raw || sent >= body.length) return clearInterval(timer);
        socket.write(body.subarray(sent, sent + chunkBytes));
        sent += Math.min(chunkBytes, body.length - sent);
      }, intervalMs);
    });
  });
}

describe('slow uploads (issue 10, defect 1: slowloris)', () => {
  const t = useRedisTest();
  let app: FastifyInstance | undefined;
  let dir: string;

  afterEach(async () => {
    app?.server.closeAllConnections();
    await app?.close();
    app = undefined;
    removeDir(dir);
  });

  // Small thresholds: 1000 bytes/s over 1 s windows, the whole body within 4 s.
  async function start() {
    dir = tempDir();
    app = await buildApp(
      apiConfig(t, dir, {
        UPLOAD_MIN_BYTES_PER_SECOND: '1000',
        UPLOAD_RATE_WINDOW_MS: '1000',
        UPLOAD_DEADLINE_MS: '4000',
        UPLOAD_IDLE_TIMEOUT_MS: '30000',
      }),
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    return (app.server.address() as net.AddressInfo).port;
  }

  const expectNothingKept = async () => {
    // The partial file goes once the closed socket ends its stream.
    await waitFor(() => filesUnder(dir).length === 0, 5000, 'the partial file to be removed');
    expect(await jobCount(t, 'images')).toBe(0);
  };

  it('answers 408 UPLOAD_TIMEOUT to a sender trickling a byte at a time, and keeps nothing', async () => {
    const port = await start();
    const req = multipart([
      { name: 'file', filename: 'a.jpg', contentType: 'image/jpeg', data: Buffer.alloc(50_000, 7) },
    ]);
    // 10 bytes/s: before the fix it held the socket and a temporary file until the idle timeout never came.
    const answer = await slowUpload(port, req.payload, req.headers['content-type']!, 1, 100);
    expect(answer.status, answer.raw).toBe(408);
    expect(answer.body).toEqual({
      error: { code: 'UPLOAD_TIMEOUT', message: expect.stringMatching(/too slow/), requestId: expect.any(String) },
    });
    // Refused after the first full window, well before the deadline.
    expect(answer.elapsedMs).toBeLessThan(3500);
    await expectNothingKept();
  });

  it('answers 408 to an upload fast enough but longer than the deadline, and keeps nothing', async () => {
    const port = await start();
    const req = multipart([
      { name: 'file', filename: 'a.jpg', contentType: 'image/jpeg', data: Buffer.alloc(400_000, 7) },
    ]);
    // 20 KB/s, far over the minimum rate: 20 s for the body against a 4 s deadline.
    const answer = await slowUpload(port, req.payload, req.headers['content-type']!, 2000, 100);
    expect(answer.status, answer.raw).toBe(408);
    expect((answer.body as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'UPLOAD_TIMEOUT',
      message: expect.stringMatching(/longer than 4 s/),
    });
    expect(answer.elapsedMs).toBeGreaterThanOrEqual(4000);
    expect(answer.elapsedMs).toBeLessThan(7000);
    await expectNothingKept();
  });

  it('accepts a slow but steady upload, like a phone on a poor network', async () => {
    const port = await start();
    const image = await makeImage('jpeg', 200, 150, { noise: true });
    const req = multipart([{ name: 'file', filename: 'a.jpg', contentType: 'image/jpeg', data: image }]);
    // About 2.5 s at ~3 KB/s: several rate windows long, three times the minimum rate.
    const chunk = Math.ceil(req.payload.length / 25);
    expect(chunk * 10).toBeGreaterThan(3000);
    const answer = await slowUpload(port, req.payload, req.headers['content-type']!, chunk, 100);
    expect(answer.status, answer.raw).toBe(202);
    expect(answer.elapsedMs).toBeGreaterThan(2000);
    expect(filesUnder(dir).filter((f) => f.startsWith('.tmp'))).toEqual([]);
    expect(await jobCount(t, 'images')).toBe(1);
  });
});
