import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { parseConfig } from '@bullpen/config';
import { type RedisServerHandle, startRedisServer } from '@bullpen/test-utils';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../apps/api/src/app.ts';
import { noiseJpeg } from '../lib/images.ts';
import { adminClient } from '../lib/redis.ts';
import { recordFigures } from './report.ts';

const prefix = 'chaos-fuzz';
const MAX_BYTES = 256 * 1024;
const PER_KIND = 60;

/** A small deterministic PRNG (mulberry32), so a failing case can be reproduced from its seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Part {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer | string;
  rawHeaders?: string;
}
interface Case {
  kind: string;
  payload: Buffer;
  headers: Record<string, string>;
}

function multipart(parts: Part[], opts: { boundary?: string; close?: boolean } = {}) {
  const boundary = opts.boundary ?? `----fuzz${Math.random().toString(16).slice(2)}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    let head = p.rawHeaders ?? `Content-Disposition: form-data; name="${p.name}"`;
    if (p.rawHeaders === undefined) {
      if (p.filename !== undefined) head += `; filename="${p.filename}"`;
      if (p.contentType) head += `\r\nContent-Type: ${p.contentType}`;
    }
    chunks.push(Buffer.from(`--${boundary}\r\n${head}\r\n\r\n`), Buffer.from(p.data), Buffer.from('\r\n'));
  }
  if (opts.close !== false) chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

const file = (data: Buffer, fields: Record<string, string> = {}, extra: Record<string, string> = {}) => {
  const m = multipart([
    ...Object.entries(fields).map(([name, v]) => ({ name, data: v })),
    { name: 'file', filename: 'x.jpg', contentType: 'image/jpeg', data },
  ]);
  return { payload: m.payload, headers: { ...m.headers, ...extra } };
};

function pngClaiming(png: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(png);
  out.writeUInt32BE(width, 16);
  out.writeUInt32BE(height, 20);
  out.writeUInt32BE(crc32(out.subarray(12, 29)), 29);
  return out;
}

async function generate(): Promise<Case[]> {
  const rnd = prng(6);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo));
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(0, 256)));
  const jpeg = await noiseJpeg(320, 240);
  const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#808080' } })
    .png()
    .toBuffer();
  const tinyPng = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#000' } })
    .png()
    .toBuffer();
  const gif = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#f00' } })
    .gif()
    .toBuffer();
  const webp = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#0f0' } })
    .webp()
    .toBuffer();
  const cases: Case[] = [];
  const add = (kind: string, c: { payload: Buffer; headers: Record<string, string> }) => cases.push({ kind, ...c });

  for (let i = 0; i < PER_KIND; i++) {
    // Truncated images: cut anywhere after the magic bytes.
    const src = [jpeg, png, gif, webp][i % 4]!;
    add('truncated', file(src.subarray(0, int(4, src.length - 16))));
    // Valid magic bytes, then garbage.
    const magic = [jpeg.subarray(0, 4), png.subarray(0, 8), Buffer.from('GIF89a'), webp.subarray(0, 12)][i % 4]!;
    add('corrupt-after-magic', file(Buffer.concat([magic, bytes(int(1, 4000))])));
    // A real image whose body is overwritten with garbage from some point (header kept).
    const cut = int(Math.min(700, jpeg.length - 2), jpeg.length - 2);
    add('corrupt-body', file(Buffer.concat([jpeg.subarray(0, cut), Buffer.alloc(jpeg.length - cut, 0xff)])));
    // Wrong magic bytes: text, PDF, ZIP, ELF, HTML, random, a JPEG with its first byte changed.
    const wrong = [
      Buffer.from('hello, this is not an image'),
      Buffer.from('%PDF-1.7\n%âãÏÓ\n1 0 obj'),
      Buffer.from([0x50, 0x4b, 0x03, 0x04, ...bytes(200)]),
      Buffer.from([0x7f, 0x45, 0x4c, 0x46, ...bytes(200)]),
      Buffer.from('<html><script>alert(1)</script></html>'),
      bytes(int(1, 3000)),
      Buffer.concat([Buffer.from([0x00]), jpeg.subarray(1)]),
    ][i % 7]!;
    add('wrong-magic', file(wrong));
    // Decompression bombs: headers that claim huge dimensions.
    // Half within what decoders accept (refused by the pixel cap), half beyond (refused as unreadable).
    const side = i % 2 ? () => int(7_000, 60_000) : () => int(60_000, 2 ** 31 - 1);
    add('giant-dimensions', file(pngClaiming(tinyPng, side(), side())));
    // Over the size cap.
    add('oversize', file(Buffer.concat([jpeg.subarray(0, 4), bytes(MAX_BYTES + int(1, 200_000))])));
    // Bad fields beside a valid image.
    const badFields: Record<string, string> = [
      { sizes: '999' },
      { sizes: 'abc' },
      { sizes: '' },
      { callbackUrl: 'ftp://example.com/x' },
      { callbackUrl: 'http://127.0.0.1:9/hook' },
      { callbackUrl: 'not a url' },
      { unknownField: 'x'.repeat(5000) },
      { sizes: '128', callbackUrl: 'http://user:pw@example.com/' },
      { callbackUrl: 'http://10.0.0.1/' },
    ][i % 9]!;
    add('bad-fields', file(jpeg, badFields));
    // Fuzzed headers: content types and idempotency keys that are wrong.
    const m = file(jpeg);
    const fuzzedHeaders = [
      { 'content-type': 'text/plain' },
      { 'content-type': 'application/json' },
      { 'content-type': 'multipart/form-data' },
      { 'content-type': 'multipart/form-data; boundary=' },
      { 'content-type': 'multipart/form-data; boundary=nope-not-the-boundary' },
      { 'content-type': 'multipart/mixed; boundary=x' },
      { ...m.headers, 'idempotency-key': 'x'.repeat(int(300, 2000)) },
      { ...m.headers, 'idempotency-key': 'bad key\twith\tcontrols' },
      { 'content-type': `multipart/form-data; boundary=${'b'.repeat(int(71, 200))}` },
      { 'content-type': 'application/x-www-form-urlencoded' },
    ][i % 10]!;
    add('fuzzed-headers', { payload: m.payload, headers: fuzzedHeaders });
    // Odd multipart bodies.
    const odd = [
      () => multipart([{ name: 'sizes', data: '128' }]),
      () =>
        multipart([
          { name: 'file', filename: 'a.jpg', data: jpeg },
          { name: 'file', filename: 'b.jpg', data: jpeg },
        ]),
      () => multipart([{ name: 'file', filename: 'empty.jpg', data: Buffer.alloc(0) }]),
      () => multipart([{ name: 'file', filename: 'x.jpg', data: jpeg }], { close: false }),
      () => ({ payload: jpeg.subarray(0, 2000), headers: multipart([]).headers }),
      // A part without Content-Disposition (kept under 16 KB: a larger one hangs, see the known-issue test).
      () => multipart([{ name: 'file', rawHeaders: 'Content-Type: image/jpeg', data: jpeg.subarray(0, 8000) }]),
      () => multipart(Array.from({ length: 20 }, (_, k) => ({ name: `f${k}`, data: 'v' }))),
      () => multipart([{ name: 'file', filename: 'x.jpg', data: jpeg.subarray(0, 10) }], { close: false }),
      () =>
        multipart([
          { name: 'sizes', data: '128' },
          { name: 'callbackUrl', data: 'http://a' },
          { name: 'callbackUrl', data: 'http://b' },
          { name: 'file', filename: 'x.jpg', data: jpeg },
        ]),
      () => ({ payload: Buffer.alloc(0), headers: multipart([]).headers }),
      () =>
        multipart([
          { name: 'x'.repeat(500), data: 'v' },
          { name: 'file', filename: 'x.jpg', data: jpeg },
        ]),
    ][i % 11]!();
    add('odd-multipart', odd);
  }
  return cases;
}

function filesUnder(dir: string): string[] {
  try {
    return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
      .filter((e) => e.isFile())
      .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
  } catch {
    return [];
  }
}

describe('generated malformed uploads', () => {
  let redis: RedisServerHandle;
  let admin: Redis;
  let dir: string;
  beforeAll(async () => {
    redis = await startRedisServer();
    admin = adminClient(redis.url);
    dir = mkdtempSync(path.join(tmpdir(), 'bullpen-fuzz-'));
  });
  afterAll(async () => {
    admin?.disconnect();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const apiConfig = (extra: Record<string, string> = {}) =>
    parseConfig('api', {
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      REDIS_URL: redis.url,
      BULLPEN_PREFIX: prefix,
      STORAGE_DIR: dir,
      UPLOAD_MAX_BYTES: String(MAX_BYTES),
      UPLOAD_MAX_PIXELS: String(40_000_000),
      API_MAX_EVENT_LOOP_DELAY_MS: '0',
      ...extra,
    });

  it('answers none with 5xx, enqueues nothing and leaves no file behind', async () => {
    const app = await buildApp(apiConfig());
    const cases = await generate();
    const byKind: Record<string, Record<string, number>> = {};
    const fiveXx: { kind: string; status: number; body: string }[] = [];
    const accepted: string[] = [];
    const started = Date.now();
    try {
      for (const c of cases) {
        const res = await app.inject({ method: 'POST', url: '/uploads', payload: c.payload, headers: c.headers });
        const k = byKind[c.kind] ?? {};
        byKind[c.kind] = k;
        const code = (res.json() as { error?: { code?: string } }).error?.code ?? String(res.statusCode);
        k[`${res.statusCode} ${code}`] = (k[`${res.statusCode} ${code}`] ?? 0) + 1;
        if (res.statusCode >= 500) fiveXx.push({ kind: c.kind, status: res.statusCode, body: res.body.slice(0, 200) });
        if (res.statusCode < 300) accepted.push(`${c.kind}: ${res.body.slice(0, 120)}`);
      }
    } finally {
      await app.close();
    }
    const images = new Queue('images', { connection: admin, prefix });
    const counts = await images.getJobCounts();
    await images.close();
    const jobs = Object.values(counts).reduce((a, b) => a + b, 0);
    const files = filesUnder(dir);
    const records = (await admin.keys(`${prefix}:upload:*`)).length;
    const figures = {
      uploads: cases.length,
      kinds: Object.keys(byKind).length,
      durationS: (Date.now() - started) / 1000,
      answers5xx: fiveXx.length,
      accepted: accepted.length,
      jobs,
      filesLeft: files.length,
      uploadRecordsLeft: records,
      answersByKind: byKind,
    };
    recordFigures('malformed-uploads', figures);
    expect(cases.length).toBeGreaterThanOrEqual(500);
    expect(fiveXx).toEqual([]);
    expect(accepted).toEqual([]);
    expect(jobs).toBe(0);
    expect(files).toEqual([]);
    expect(records).toBe(0);
  });

  // @fastify/busboy 3.2.6 stops reading a part without a Content-Disposition header past ~16 KB, so such a
  // request used to hang forever (found by this suite). The API now answers any upload that stalls for
  // UPLOAD_IDLE_TIMEOUT_MS with 408 UPLOAD_TIMEOUT, over real HTTP, and keeps nothing of it.
  it('answers a part without Content-Disposition over 16 KB with 408 once it stalls', async () => {
    const app = await buildApp(apiConfig({ UPLOAD_IDLE_TIMEOUT_MS: '1000' }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as import('node:net').AddressInfo;
    try {
      const body = multipart([{ name: 'file', rawHeaders: 'Content-Type: image/jpeg', data: Buffer.alloc(17_000, 1) }]);
      const res = await fetch(`http://127.0.0.1:${port}/uploads`, {
        method: 'POST',
        body: body.payload,
        headers: body.headers,
        signal: AbortSignal.timeout(5000),
      });
      expect(res.status).toBe(408);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UPLOAD_TIMEOUT');
    } finally {
      app.server.closeAllConnections();
      await app.close();
    }
  });
});
