import { freePort, useRedisTest } from '@bullpen/test-utils';
import { uploadKeys } from '@bullpen/uploads';
import { afterEach, describe, expect, it } from 'vitest';
import { type Child, filesUnder, makeImage, removeDir, spawnApp, stopChild, tempDir, waitForHttp } from './helpers.ts';

describe('the API as a real process', () => {
  const t = useRedisTest();
  let api: Child | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    await stopChild(api);
    removeDir(dir);
    api = undefined;
    dir = undefined;
  });

  it('checks Redis, listens, takes uploads over real HTTP, and exits 0 on SIGTERM', async () => {
    dir = tempDir();
    const port = await freePort();
    api = spawnApp('api', {
      REDIS_URL: t.url,
      BULLPEN_PREFIX: t.prefix,
      STORAGE_DIR: dir,
      API_PORT: String(port),
      UPLOAD_MAX_BYTES: '100000',
      LOG_LEVEL: 'info',
    });
    const base = `http://127.0.0.1:${port}`;
    await waitForHttp(`${base}/readyz`);

    const form = new FormData();
    form.append('sizes', '128');
    form.append('file', new Blob([await makeImage('jpeg', 200, 150)], { type: 'image/jpeg' }), 'a.jpg');
    const ok = await fetch(`${base}/uploads`, { method: 'POST', body: form, headers: { 'x-request-id': 'main-1' } });
    expect(ok.status).toBe(202);
    const { uploadId } = (await ok.json()) as { uploadId: string };
    expect(ok.headers.get('location')).toBe(`/uploads/${uploadId}`);

    // Streamed past the cap over a real socket: refused, and nothing of it is kept.
    const big = new FormData();
    big.append('file', new Blob([Buffer.alloc(300_000, 7)], { type: 'image/jpeg' }), 'big.jpg');
    const tooBig = await fetch(`${base}/uploads`, { method: 'POST', body: big });
    expect(tooBig.status).toBe(413);
    expect(((await tooBig.json()) as { error: { code: string } }).error.code).toBe('UPLOAD_TOO_LARGE');
    expect(filesUnder(dir)).toEqual([uploadKeys.original(uploadId)]);

    api.child.kill('SIGTERM');
    expect(await api.exited).toBe(0);
    expect(api.output()).toContain('"msg":"api.stopped"');
    expect(api.output()).toContain('"requestId":"main-1"');
  });
});
