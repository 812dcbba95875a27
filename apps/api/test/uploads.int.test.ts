import { closeRedis, createProducer, createRedisConnection } from '@bullpen/jobs';
import { registry, uploadKeys } from '@bullpen/uploads';
import { describe, expect, it } from 'vitest';
import { filesUnder, fileUpload, jobCount, makeImage, multipart, pngClaiming, scanKeys, useApiApp } from './helpers.ts';

describe('POST /uploads', () => {
  const server = useApiApp();
  const { t, start } = server;

  it.each(['jpeg', 'png', 'webp'] as const)(
    'accepts a %s: 202, Location, a queued record and one job carrying the request id',
    async (format) => {
      const api = await start();
      const img = await makeImage(format, 640, 480);
      const body = multipart([
        { name: 'sizes', data: '128,512' },
        { name: 'file', filename: `photo.${format}`, contentType: `image/${format}`, data: img },
      ]);
      const ok = await api.inject({
        method: 'POST',
        url: '/uploads',
        payload: body.payload,
        headers: { ...body.headers, 'x-request-id': `req-${format}-2` },
      });
      expect(ok.statusCode, ok.body).toBe(202);
      const json = ok.json();
      expect(json).toMatchObject({ status: 'queued', statusUrl: `/uploads/${json.uploadId}` });
      expect(json.jobId).toBe(`image.resize#${json.uploadId}`);
      expect(ok.headers.location).toBe(`/uploads/${json.uploadId}`);
      expect(ok.headers['x-request-id']).toBe(`req-${format}-2`);

      const status = await api.inject({ method: 'GET', url: json.statusUrl });
      expect(status.statusCode).toBe(200);
      expect(status.json()).toMatchObject({
        uploadId: json.uploadId,
        status: 'queued',
        progress: 0,
        format,
        width: 640,
        height: 480,
        sizes: [128, 512],
        variants: [],
      });
      expect(filesUnder(server.dir)).toContain(uploadKeys.original(json.uploadId));

      const conn = createRedisConnection(t.url, 'admin');
      const producer = createProducer(registry, { connection: conn, prefix: t.prefix });
      try {
        const job = await producer.queue('images').getJob(json.jobId);
        expect(job?.data.payload).toMatchObject({
          uploadId: json.uploadId,
          format,
          width: 640,
          height: 480,
          sizes: [128, 512],
        });
        expect(job?.data.meta.requestId).toBe(`req-${format}-2`);
      } finally {
        await producer.close();
        await closeRedis(conn);
      }
    },
  );
});

describe('POST /uploads, other formats', () => {
  const api = useApiApp();

  it.each(['gif', 'avif', 'tiff'] as const)('accepts a %s named and typed as something else', async (format) => {
    const app = await api.start();
    const req = fileUpload(await makeImage(format, 300, 200), 'upload.dat', 'application/octet-stream');
    const res = await app.inject({ method: 'POST', url: '/uploads', payload: req.payload, headers: req.headers });
    expect(res.statusCode, res.body).toBe(202);
    const status = (await app.inject({ method: 'GET', url: res.json().statusUrl })).json();
    expect(status).toMatchObject({ format, width: 300, height: 200 });
  });
});

describe('POST /uploads refuses bad uploads', () => {
  const api = useApiApp();
  const { t } = api;

  async function expectNothingStored() {
    expect(filesUnder(api.dir), 'files left in storage').toEqual([]);
    expect(await jobCount(t, 'images'), 'jobs enqueued').toBe(0);
    const admin = createRedisConnection(t.url, 'admin');
    try {
      expect(await scanKeys(admin, `${t.prefix}:upload:*`), 'upload records').toEqual([]);
    } finally {
      await closeRedis(admin);
    }
  }

  type Case = [
    label: string,
    status: number,
    code: string,
    body: () => Promise<{ payload: Buffer | string; headers: Record<string, string> }>,
  ];
  const jpeg = () => makeImage('jpeg', 320, 240);
  const cases: Case[] = [
    [
      'a text file',
      415,
      'UPLOAD_UNSUPPORTED_TYPE',
      async () => fileUpload(Buffer.from('hello, not an image\n'), 'notes.txt', 'text/plain'),
    ],
    [
      'text with an image name and Content-Type',
      415,
      'UPLOAD_UNSUPPORTED_TYPE',
      async () => fileUpload(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), 'photo.png', 'image/png'),
    ],
    [
      'an SVG (not an accepted type) named .jpg',
      415,
      'UPLOAD_UNSUPPORTED_TYPE',
      async () =>
        fileUpload(
          Buffer.from('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>'),
          'a.jpg',
          'image/jpeg',
        ),
    ],
    [
      'a truncated JPEG',
      422,
      'UPLOAD_CORRUPT',
      async () => {
        const img = await makeImage('jpeg', 800, 600);
        return fileUpload(img.subarray(0, Math.floor(img.length / 2)), 'cut.jpg', 'image/jpeg');
      },
    ],
    [
      'a PNG with a broken body',
      422,
      'UPLOAD_CORRUPT',
      async () => {
        const img = Buffer.from(await makeImage('png', 200, 200));
        img.fill(0x42, 60, img.length - 20);
        return fileUpload(img, 'broken.png', 'image/png');
      },
    ],
    [
      'a file over the size cap',
      413,
      'UPLOAD_TOO_LARGE',
      async () => fileUpload(Buffer.concat([await jpeg(), Buffer.alloc(300_000, 1)]), 'big.jpg', 'image/jpeg'),
    ],
    [
      'a PNG header declaring 30000x30000 (pixel bomb)',
      422,
      'UPLOAD_TOO_MANY_PIXELS',
      async () => fileUpload(await pngClaiming(30_000, 30_000), 'bomb.png', 'image/png'),
    ],
    [
      'a real PNG over the pixel cap',
      422,
      'UPLOAD_TOO_MANY_PIXELS',
      async () => fileUpload(await makeImage('png', 1100, 1000), 'large.png', 'image/png'),
    ],
    ['an empty file', 400, 'UPLOAD_EMPTY', async () => fileUpload(Buffer.alloc(0), 'empty.jpg', 'image/jpeg')],
    ['a form without a file', 400, 'UPLOAD_EMPTY', async () => multipart([{ name: 'sizes', data: '128' }])],
    [
      'a multipart body cut short',
      415,
      'UPLOAD_NOT_MULTIPART',
      async () => {
        const full = fileUpload(await jpeg(), 'a.jpg', 'image/jpeg');
        return { payload: full.payload.subarray(0, full.payload.length - 400), headers: full.headers };
      },
    ],
    [
      'a JSON body',
      415,
      'UPLOAD_NOT_MULTIPART',
      async () => ({ payload: '{"file":"x"}', headers: { 'content-type': 'application/json' } }),
    ],
    [
      'a raw image body',
      415,
      'UPLOAD_NOT_MULTIPART',
      async () => ({ payload: await jpeg(), headers: { 'content-type': 'image/jpeg' } }),
    ],
    [
      'two files',
      400,
      'UPLOAD_TOO_MANY_FILES',
      async () =>
        multipart([
          { name: 'file', filename: 'a.jpg', contentType: 'image/jpeg', data: await jpeg() },
          { name: 'file2', filename: 'b.jpg', contentType: 'image/jpeg', data: await jpeg() },
        ]),
    ],
    [
      'sizes not allowed',
      400,
      'UPLOAD_FIELD_INVALID',
      async () => fileUpload(await jpeg(), 'a.jpg', 'image/jpeg', { sizes: '128,300' }),
    ],
    [
      'sizes not a number',
      400,
      'UPLOAD_FIELD_INVALID',
      async () => fileUpload(await jpeg(), 'a.jpg', 'image/jpeg', { sizes: 'big' }),
    ],
    [
      'an ftp callbackUrl',
      400,
      'UPLOAD_FIELD_INVALID',
      async () => fileUpload(await jpeg(), 'a.jpg', 'image/jpeg', { callbackUrl: 'ftp://example.com/x' }),
    ],
    [
      'a loopback callbackUrl',
      400,
      'UPLOAD_FIELD_INVALID',
      async () => fileUpload(await jpeg(), 'a.jpg', 'image/jpeg', { callbackUrl: 'http://127.0.0.1:9/hook' }),
    ],
    [
      'a private callbackUrl',
      400,
      'UPLOAD_FIELD_INVALID',
      async () => fileUpload(await jpeg(), 'a.jpg', 'image/jpeg', { callbackUrl: 'http://10.1.2.3/hook' }),
    ],
    [
      'a localhost callbackUrl',
      400,
      'UPLOAD_FIELD_INVALID',
      async () => fileUpload(await jpeg(), 'a.jpg', 'image/jpeg', { callbackUrl: 'http://localhost:8080/hook' }),
    ],
    [
      'an IPv6 loopback callbackUrl',
      400,
      'UPLOAD_FIELD_INVALID',
      async () => fileUpload(await jpeg(), 'a.jpg', 'image/jpeg', { callbackUrl: 'http://[::1]/hook' }),
    ],
    [
      'a callbackUrl that is not a URL',
      400,
      'UPLOAD_FIELD_INVALID',
      async () => fileUpload(await jpeg(), 'a.jpg', 'image/jpeg', { callbackUrl: 'not a url' }),
    ],
    [
      'an unknown field',
      400,
      'UPLOAD_FIELD_INVALID',
      async () => fileUpload(await jpeg(), 'a.jpg', 'image/jpeg', { color: 'red' }),
    ],
  ];

  it.each(cases)('refuses %s with %i %s, creating no job and leaving no file', async (_label, status, code, body) => {
    const app = await api.start({ UPLOAD_MAX_BYTES: '200000', UPLOAD_MAX_PIXELS: '1000000' });
    const req = await body();
    const res = await app.inject({
      method: 'POST',
      url: '/uploads',
      payload: req.payload,
      headers: { ...req.headers, 'x-request-id': 'bad-1' },
    });
    expect(res.statusCode, res.body).toBe(status);
    expect(res.json()).toEqual({ error: { code, message: expect.any(String), requestId: 'bad-1' } });
    // Issue 10: libvips' own words (which may quote the file) stay in the log.
    expect(res.json().error.message).not.toMatch(/vips|libpng|jpeg:|premature|huffman/i);
    await expectNothingStored();
  });

  it('refuses a bad Idempotency-Key before reading the body', async () => {
    const app = await api.start();
    const req = fileUpload(await makeImage('jpeg', 64, 64), 'a.jpg', 'image/jpeg');
    const res = await app.inject({
      method: 'POST',
      url: '/uploads',
      payload: req.payload,
      headers: { ...req.headers, 'idempotency-key': 'has spaces in it' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('IDEMPOTENCY_KEY_INVALID');
    await expectNothingStored();
  });
});

describe('POST /uploads with an IPv6 callbackUrl (issue 10, defect 7)', () => {
  const api = useApiApp();

  const upload = async (app: Awaited<ReturnType<typeof api.start>>, callbackUrl: string) => {
    const req = fileUpload(await makeImage('png', 64, 64), 'a.png', 'image/png', { callbackUrl });
    return app.inject({ method: 'POST', url: '/uploads', payload: req.payload, headers: req.headers });
  };

  it('accepts a public IPv6 literal and refuses private ones, as for IPv4', async () => {
    const app = await api.start();
    // Before the fix every IPv6 literal was "Invalid URL".
    expect((await upload(app, 'https://[2606:4700:4700::1111]:8443/hooks')).statusCode).toBe(202);
    for (const url of [
      'http://[::1]/h',
      'http://[::ffff:127.0.0.1]/h',
      'http://[64:ff9b::a00:1]/h',
      'http://[fec0::1]/h',
    ]) {
      const res = await upload(app, url);
      expect(res.statusCode, url).toBe(400);
      expect(res.json().error.message, url).toMatch(/private or loopback/);
    }
  });

  it('accepts [::1] when CALLBACK_ALLOW_PRIVATE is true', async () => {
    const app = await api.start({ CALLBACK_ALLOW_PRIVATE: 'true' });
    expect((await upload(app, 'http://[::1]:9/hook')).statusCode).toBe(202);
  });
});
