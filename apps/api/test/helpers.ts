import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { type ApiConfig, parseConfig } from '@bullpen/config';
import { closeRedis, createProducer, createRedisConnection, type RedisClient } from '@bullpen/jobs';
import { makeImage, type RedisTestContext, spawnTs, type TsProcess, useRedisTest, waitFor } from '@bullpen/test-utils';
import { registry } from '@bullpen/uploads';
import type { FastifyInstance } from 'fastify';
import { afterEach } from 'vitest';
import { type ApiDeps, buildApp } from '../src/app.ts';

export const ROOT = path.resolve(import.meta.dirname, '../../..');

/**
 * Per test: the API on a fresh storage folder and Redis prefix (`start`), closed and its folder removed
 * afterwards. `deps` may build on the folder (a storage that fails, say).
 */
export function useApiApp() {
  const t = useRedisTest();
  let app: FastifyInstance | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
    removeDir(dir);
    dir = undefined;
  });
  return {
    t,
    /** The storage folder of the app `start` made. */
    get dir(): string {
      if (!dir) throw new Error('start() first');
      return dir;
    },
    async start(extra: Record<string, string> = {}, deps: (dir: string) => ApiDeps = () => ({})) {
      dir = tempDir();
      app = await buildApp(apiConfig(t, dir, extra), deps(dir));
      return app;
    },
  };
}

export function tempDir(label = 'api'): string {
  return mkdtempSync(path.join(tmpdir(), `bullpen-${label}-`));
}

export function apiConfig(t: RedisTestContext, storageDir: string, extra: Record<string, string> = {}): ApiConfig {
  return parseConfig('api', {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    REDIS_URL: t.url,
    BULLPEN_PREFIX: t.prefix,
    STORAGE_DIR: storageDir,
    API_MAX_EVENT_LOOP_DELAY_MS: '0',
    ...extra,
  });
}

/** Every file under `dir`, relative, sorted (temporary files included). */
export function filesUnder(dir: string): string[] {
  try {
    return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
      .filter((e) => e.isFile())
      .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
      .sort();
  } catch {
    return [];
  }
}

export interface Part {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer | string;
}

/** A multipart/form-data body, built by hand (what a browser sends). */
export function multipart(parts: Part[]): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----bullpen${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"`;
    if (p.filename !== undefined) head += `; filename="${p.filename}"`;
    head += '\r\n';
    if (p.contentType) head += `Content-Type: ${p.contentType}\r\n`;
    chunks.push(
      Buffer.from(`${head}\r\n`),
      Buffer.isBuffer(p.data) ? p.data : Buffer.from(p.data),
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

export const fileUpload = (
  data: Buffer,
  filename = 'image.bin',
  contentType = 'application/octet-stream',
  fields: Record<string, string> = {},
) =>
  multipart([
    ...Object.entries(fields).map(([name, value]) => ({ name, data: value })),
    { name: 'file', filename, contentType, data },
  ]);

/** Real images made at test time (plain colour here; @bullpen/test-utils has noise and EXIF options). */
export { makeImage } from '@bullpen/test-utils';

/** A tiny PNG whose header claims `width` x `height`: a decompression bomb's header. */
export async function pngClaiming(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(await makeImage('png', 1, 1));
  // IHDR: length(4) "IHDR"(4) width(4) height(4) ... at offset 8; CRC covers type + data (17 bytes).
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

/** Job counts of a queue, every state summed. */
export async function jobCount(t: RedisTestContext, queue: string): Promise<number> {
  const conn = createRedisConnection(t.url, 'admin');
  const producer = createProducer(registry, { connection: conn, prefix: t.prefix });
  try {
    const counts = await producer.queue(queue).getJobCounts();
    return Object.values(counts).reduce((a, b) => a + b, 0);
  } finally {
    await producer.close();
    await closeRedis(conn);
  }
}

export async function scanKeys(client: RedisClient, pattern: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out;
}

/** A real app process: `child`, `output()`, `exited`, `kill()` (see spawnTs). */
export type Child = TsProcess;

/** Runs an app's `src/main.ts` as one real child process (killing its pid kills the app). */
export function spawnApp(app: 'api' | 'worker', env: Record<string, string>): Child {
  return spawnTs(path.join(ROOT, `apps/${app}/src/main.ts`), {
    cwd: path.join(ROOT, `apps/${app}`),
    env: { NODE_ENV: 'test', LOG_FORMAT: 'json', ...env },
  });
}

/** Stops a child (SIGKILL) when it still runs, and waits for it. */
export async function stopChild(child: Child | undefined): Promise<void> {
  await child?.kill();
}

export async function waitForHttp(url: string, timeoutMs = 20_000): Promise<void> {
  await waitFor(async () => (await fetch(url)).ok, timeoutMs, `${url} to answer`);
}

export function removeDir(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

export interface RawAnswer {
  raw: string;
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends raw bytes over a real socket (past Node's HTTP parser, which inject() bypasses) and resolves with
 * the first answer once it is complete, the server closes the connection, or `untilMs` passes. Writes big requests in
 * chunks and stops writing once an answer arrives.
 */
export function rawExchange(port: number, request: Buffer | string, untilMs = 5000): Promise<RawAnswer> {
  const data = Buffer.isBuffer(request) ? request : Buffer.from(request, 'latin1');
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let raw = '';
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      const cut = raw.indexOf('\r\n\r\n');
      const head = cut < 0 ? raw : raw.slice(0, cut);
      const headers: Record<string, string> = {};
      for (const line of head.split('\r\n').slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({
        raw,
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
        headers,
        body: cut < 0 ? '' : raw.slice(cut + 4),
      });
    };
    const timer = setTimeout(finish, untilMs);
    socket.on('data', (d) => {
      raw += d.toString('latin1');
      // A whole answer (keep-alive connections stay open after it).
      const cut = raw.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *(\d+)/i.exec(raw.slice(0, cut));
      if (cut >= 0 && length && raw.length - cut - 4 >= Number(length[1])) finish();
    });
    // A reset after the answer (the server stops reading a huge request) still leaves the answer.
    socket.on('error', () => finish());
    socket.on('close', finish);
    socket.on('connect', async () => {
      for (let at = 0; at < data.length && !raw && !socket.destroyed; at += 16 * 1024) {
        if (!socket.write(data.subarray(at, at + 16 * 1024))) await new Promise((r) => socket.once('drain', r));
      }
    });
  });
}
