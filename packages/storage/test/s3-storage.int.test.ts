import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { freePort, type S3ServerHandle, startS3Server } from '@bullpen/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createStorage, LocalStorage } from '../src/index.ts';
import { S3Storage, type S3StorageOptions } from '../src/s3-storage.ts';
import { type Backend, storageContract, tempFiles } from './contract.ts';

let s3: S3ServerHandle;
beforeAll(async () => {
  s3 = await startS3Server({ buckets: ['bullpen-test'] });
});
afterAll(async () => {
  await s3?.stop();
});

const tempDir = (label: string) => mkdtempSync(path.join(tmpdir(), `bullpen-storage-${label}-`));

/** An S3Storage on the test server under a prefix of its own. */
function s3Storage(prefix: string, dir: string, extra: Partial<S3StorageOptions> = {}): S3Storage {
  return new S3Storage({
    bucket: 'bullpen-test',
    prefix,
    tempDir: path.join(dir, '.tmp'),
    client: s3.clientConfig,
    ...extra,
  });
}

const local: Backend = {
  name: 'LocalStorage',
  atomicServer: true,
  async make() {
    const dir = tempDir('local');
    const storage = new LocalStorage(dir);
    return {
      storage,
      tempDir: path.join(dir, '.tmp'),
      withPageSize: () => storage,
      async close() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

const s3Backend: Backend = {
  name: 'S3Storage (s3rver)',
  atomicServer: false,
  async make() {
    const dir = tempDir('s3');
    const prefix = `t-${randomBytes(4).toString('hex')}/objects`;
    const storage = s3Storage(prefix, dir);
    const paged: S3Storage[] = [];
    return {
      storage,
      tempDir: path.join(dir, '.tmp'),
      withPageSize(pageSize) {
        const s = s3Storage(prefix, dir, { pageSize });
        paged.push(s);
        return s;
      },
      async close() {
        storage.close();
        for (const s of paged) s.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

describe.each([local, s3Backend])('$name', (backend) => {
  storageContract(backend);
});

describe('S3Storage', () => {
  let dir: string;
  const opened: S3Storage[] = [];
  const track = (s: S3Storage) => {
    opened.push(s);
    return s;
  };
  beforeAll(() => {
    dir = tempDir('s3-only');
  });
  afterEach(() => {
    for (const s of opened.splice(0)) s.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const rawKeys = async (prefix: string): Promise<string[]> => {
    const client = new S3Client(s3.clientConfig);
    try {
      const out = await client.send(new ListObjectsV2Command({ Bucket: 'bullpen-test', Prefix: prefix }));
      return (out.Contents ?? []).map((o) => o.Key!).sort();
    } finally {
      client.destroy();
    }
  };

  it('keeps objects under the prefix of STORAGE_URL, reading endpoint, region and credentials from the AWS variables', async () => {
    for (const [k, v] of Object.entries(s3.awsEnv)) vi.stubEnv(k, v);
    try {
      const storage = await createStorage({
        STORAGE_DIR: dir,
        STORAGE_URL: 's3://bullpen-test/from-url/env',
        STORAGE_S3_FORCE_PATH_STYLE: true,
      });
      expect(storage).toBeInstanceOf(S3Storage);
      track(storage as S3Storage);
      await storage.put('uploads/e1/original', Buffer.from('via the AWS variables'));
      const staged = await storage.stage(Readable.from([Buffer.from('staged')]));
      expect(path.dirname(staged.path)).toBe(path.join(dir, '.tmp'));
      await staged.commit('uploads/e1/128.webp');
      expect(await rawKeys('from-url/')).toEqual([
        'from-url/env/uploads/e1/128.webp',
        'from-url/env/uploads/e1/original',
      ]);
      expect(await storage.list('uploads/e1')).toEqual(['uploads/e1/128.webp', 'uploads/e1/original']);
      await storage.deletePrefix('uploads');
      expect(await rawKeys('from-url/')).toEqual([]);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('commits a staged file larger than a part as a multipart upload, and reads it back whole', async () => {
    const storage = track(s3Storage('t-multipart', dir, { partSize: 5 * 1024 * 1024 }));
    const data = randomBytes(11 * 1024 * 1024 + 7);
    const staged = await storage.stage(Readable.from([data]));
    await staged.commit('uploads/mp/original');
    const info = await storage.stat('uploads/mp/original');
    expect(info?.size).toBe(data.length);
    expect((await storage.get('uploads/mp/original')).equals(data)).toBe(true);
    expect(tempFiles(path.join(dir, '.tmp'))).toEqual([]);
  });

  it('retries a PUT cut off mid-body with the whole body, so no object is left short', async () => {
    // A proxy in front of s3rver that cuts, once per arming, the first connection to carry over 64 KiB.
    let armed = false;
    let cuts = 0;
    const open = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const upstream = net.connect(s3.port, '127.0.0.1');
      open.add(client).add(upstream);
      let sent = 0;
      client.on('data', (d) => {
        sent += d.length;
        if (armed && sent > 64 * 1024) {
          armed = false;
          cuts++;
          client.destroy();
          upstream.destroy();
          return;
        }
        upstream.write(d);
      });
      upstream.pipe(client);
      for (const s of [client, upstream]) s.on('error', () => {}).on('close', () => open.delete(s));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const { port } = proxy.address() as net.AddressInfo;
    try {
      const storage = track(
        s3Storage('t-cut', dir, { client: { ...s3.clientConfig, endpoint: `http://127.0.0.1:${port}` } }),
      );
      const variant = randomBytes(1024 * 1024);
      armed = true;
      await storage.put('uploads/c/512.webp', variant);
      expect(cuts).toBe(1);
      expect((await storage.get('uploads/c/512.webp')).equals(variant)).toBe(true);

      const original = randomBytes(3 * 1024 * 1024);
      const staged = await storage.stage(Readable.from([original]));
      armed = true;
      await staged.commit('uploads/c/original');
      expect(cuts).toBe(2);
      expect((await storage.get('uploads/c/original')).equals(original)).toBe(true);
    } finally {
      for (const s of open) s.destroy();
      await new Promise((r) => proxy.close(r));
    }
  });

  it('answers STORAGE_UNAVAILABLE at once when nothing listens at the endpoint', async () => {
    const port = await freePort();
    const storage = track(
      s3Storage('t-down', dir, {
        client: { ...s3.clientConfig, endpoint: `http://127.0.0.1:${port}`, maxAttempts: 2 },
      }),
    );
    const started = Date.now();
    for (const op of [
      () => storage.put('uploads/d/original', Buffer.from('x')),
      () => storage.get('uploads/d/original'),
      () => storage.stat('uploads/d/original'),
      () => storage.list('uploads/d'),
      () => storage.deletePrefix('uploads/d'),
    ]) {
      const err = await op().catch((e) => e);
      expect(err.code, String(err)).toBe('STORAGE_UNAVAILABLE');
      expect(err.cause).toBeDefined();
    }
    expect(Date.now() - started).toBeLessThan(5000);
    const staged = await storage.stage(Readable.from([Buffer.from('kept for a retry')]));
    await expect(staged.commit('uploads/d/original')).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(tempFiles(path.join(dir, '.tmp'))).toEqual([path.basename(staged.path)]);
    await staged.discard();
  });

  it('answers STORAGE_UNAVAILABLE within its timeouts when the endpoint accepts connections and never answers', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const storage = track(
        s3Storage('t-silent', dir, {
          socketTimeoutMs: 300,
          client: { ...s3.clientConfig, endpoint: `http://127.0.0.1:${port}`, maxAttempts: 2 },
        }),
      );
      const started = Date.now();
      const err = await storage.get('uploads/s/original').catch((e) => e);
      expect(err.code, String(err)).toBe('STORAGE_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it('answers STORAGE_DENIED for wrong credentials and for a bucket that does not exist', async () => {
    const wrongKey = track(
      s3Storage('t-denied', dir, {
        client: { ...s3.clientConfig, credentials: { accessKeyId: 'NOT-S3RVER', secretAccessKey: 'nope' } },
      }),
    );
    await expect(wrongKey.put('uploads/x/original', Buffer.from('x'))).rejects.toMatchObject({
      code: 'STORAGE_DENIED',
    });
    await expect(wrongKey.get('uploads/x/original')).rejects.toMatchObject({ code: 'STORAGE_DENIED' });
    const noBucket = track(
      new S3Storage({ bucket: 'no-such-bucket', tempDir: path.join(dir, '.tmp'), client: s3.clientConfig }),
    );
    await expect(noBucket.put('uploads/x/original', Buffer.from('x'))).rejects.toMatchObject({
      code: 'STORAGE_DENIED',
    });
    await expect(noBucket.list('uploads')).rejects.toMatchObject({ code: 'STORAGE_DENIED' });
  });
});
