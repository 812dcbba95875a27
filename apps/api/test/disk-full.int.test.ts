import { createWriteStream } from 'node:fs';
import type net from 'node:net';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { closeRedis, createRedisConnection } from '@bullpen/jobs';
import { LocalStorage, type StagedObject } from '@bullpen/storage';
import { describe, expect, it } from 'vitest';
import { filesUnder, fileUpload, jobCount, makeImage, scanKeys, useApiApp } from './helpers.ts';

/**
 * LocalStorage on a full disk: while `full`, every write fails as the kernel fails it (a real ENOSPC, from
 * /dev/full). LocalStorage itself removes its temporary file on such a failure (checked on a full tmpfs).
 */
class FullDiskStorage extends LocalStorage {
  full = true;
  override async stage(source: Readable): Promise<StagedObject> {
    if (!this.full) return super.stage(source);
    await pipeline(source, createWriteStream('/dev/full'));
    throw new Error('/dev/full took the bytes');
  }
}

describe('the API on a full disk (issue 10, defect 5)', () => {
  const api = useApiApp();
  const { t } = api;

  it('answers 507 STORAGE_FULL with Retry-After, stores nothing, and spends no Idempotency-Key', async () => {
    let storage: FullDiskStorage | undefined;
    const app = await api.start({}, (dir) => {
      storage = new FullDiskStorage(dir);
      return { storage };
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as net.AddressInfo).port}`;
    const image = await makeImage('jpeg', 600, 400, { noise: true });

    // Over real HTTP, a body big enough to be still arriving when the write fails: before the fix, 500.
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(image)], { type: 'image/jpeg' }), 'a.jpg');
    const res = await fetch(`${base}/uploads`, {
      method: 'POST',
      body: form,
      headers: { 'idempotency-key': 'full-1' },
    });
    expect(res.status).toBe(507);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await res.json()).toEqual({
      error: { code: 'STORAGE_FULL', message: expect.any(String), requestId: expect.any(String) },
    });
    const req = fileUpload(image, 'a.jpg', 'image/jpeg');
    const injected = await app.inject({ method: 'POST', url: '/uploads', payload: req.payload, headers: req.headers });
    expect(injected.statusCode).toBe(507);
    expect(injected.body).not.toMatch(/ENOSPC|dev\/full/);

    expect(filesUnder(api.dir)).toEqual([]);
    expect(await jobCount(t, 'images')).toBe(0);
    const admin = createRedisConnection(t.url, 'admin');
    try {
      expect(await scanKeys(admin, `${t.prefix}:upload:*`)).toEqual([]);
      expect(await scanKeys(admin, `${t.prefix}:idem:*`)).toEqual([]);
    } finally {
      await closeRedis(admin);
    }

    // An operator frees the disk: the same key is taken.
    storage!.full = false;
    const again = await fetch(`${base}/uploads`, {
      method: 'POST',
      body: form,
      headers: { 'idempotency-key': 'full-1' },
    });
    expect(again.status).toBe(202);
  });
});
