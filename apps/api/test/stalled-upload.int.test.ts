import net from 'node:net';
import { useRedisTest, waitFor } from '@bullpen/test-utils';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { apiConfig, filesUnder, jobCount, removeDir, tempDir } from './helpers.ts';

/** Sends raw bytes over one connection and resolves with what the server answered (or '' when it closed). */
function rawRequest(port: number, chunks: Buffer[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => {
      answer += d.toString();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(answer));
    socket.on('connect', () => {
      for (const c of chunks) socket.write(c);
      // Never ends the request: only the server can close this.
    });
  });
}

describe('a stalled upload', () => {
  const t = useRedisTest();
  let app: FastifyInstance | undefined;
  let dir: string;

  afterEach(async () => {
    app?.server.closeAllConnections();
    await app?.close();
    app = undefined;
    removeDir(dir);
  });

  async function start() {
    dir = tempDir();
    app = await buildApp(apiConfig(t, dir, { UPLOAD_IDLE_TIMEOUT_MS: '300' }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    return (app.server.address() as net.AddressInfo).port;
  }

  const head = (boundary: string, length: number) =>
    Buffer.from(
      `POST /uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
        `Content-Length: ${length}\r\n\r\n`,
    );

  it('answers 408 UPLOAD_TIMEOUT when the client stops sending mid-file, and keeps nothing', async () => {
    const port = await start();
    const part = Buffer.from(
      '--b0\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n',
    );
    const answer = await rawRequest(port, [head('b0', 100_000), part, Buffer.alloc(5000, 0xff)]);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(answer).toContain('"code":"UPLOAD_TIMEOUT"');
    // The half-received file is removed once the closed socket ends its stream.
    await waitFor(() => filesUnder(dir).length === 0, 5000, 'the partial file to be removed');
    expect(await jobCount(t, 'images')).toBe(0);
  });

  it('answers 408 for a part without Content-Disposition that the multipart parser stops reading', async () => {
    const port = await start();
    // @fastify/busboy stops reading such a part past 16 KB: without the watchdog this request hangs.
    const body = Buffer.concat([
      Buffer.from('--b1\r\nContent-Type: image/jpeg\r\n\r\n'),
      Buffer.alloc(17_000, 1),
      Buffer.from('\r\n--b1--\r\n'),
    ]);
    const answer = await rawRequest(port, [head('b1', body.length), body]);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(filesUnder(dir)).toEqual([]);
  });
});
