import { PermanentJobError } from '@bullpen/jobs';
import { waitFor } from '@bullpen/test-utils';
import { registry } from '@bullpen/uploads';
import { describe, expect, it } from 'vitest';
import { cookieHeader, imagePayload, login, PASSWORDS, useDashboardTest, useUsers } from './helpers.ts';

describe('dashboard auth over HTTP', () => {
  useUsers();
  const t = useDashboardTest();

  it('redirects pages to /login and answers 401 AUTH_REQUIRED to API calls without a session', async () => {
    const app = await t.app();
    for (const url of [
      '/',
      '/dead-letters',
      '/dead-letters/list',
      '/audit',
      '/search?q=x',
      '/board',
      '/board/queue/images',
      '/board-readonly',
      '/jobs/images/x',
      '/nope',
    ]) {
      const res = await app.inject({ method: 'GET', url, headers: { accept: 'text/html' } });
      expect(res.statusCode, url).toBe(302);
      expect(res.headers.location, url).toBe(`/login?next=${encodeURIComponent(url)}`);
    }
    const api = [
      ['GET', '/api/dead-letters'],
      ['GET', '/api/audit'],
      ['GET', '/board/api/queues'],
      ['GET', '/board-readonly/api/queues'],
      ['PUT', '/board/api/queues/images/pause'],
      ['POST', '/api/dead-letters/replay'],
      ['POST', '/dead-letters/replay'],
      ['POST', '/logout'],
    ] as const;
    for (const [method, url] of api) {
      const res = await app.inject({ method, url });
      expect(res.statusCode, `${method} ${url}`).toBe(401);
      expect(res.json().error, `${method} ${url}`).toMatchObject({
        code: 'AUTH_REQUIRED',
        requestId: expect.any(String),
      });
    }
    expect((await app.inject('/healthz')).json()).toEqual({ status: 'ok' });
    const metrics = await app.inject('/metrics');
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toContain('bullpen_queue_jobs');
    const loginPage = await app.inject('/login');
    expect(loginPage.statusCode).toBe(200);
    expect(loginPage.body).toContain('name="password"');
  });

  it('serves public files without a session, and answers what the browser loads on its own 401, never a redirect (issue 9)', async () => {
    const app = await t.app();
    for (const [url, type] of [
      ['/favicon.ico', 'image/x-icon'],
      ['/assets/favicon.svg', 'image/svg+xml'],
      ['/assets/dashboard.css', 'text/css'],
      ['/board/static/favicon-32x32.png', 'image/png'],
      ['/board-readonly/static/images/logo.svg', 'image/svg+xml'],
    ] as const) {
      const res = await app.inject({ url, headers: { 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' } });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type'], url).toContain(type);
      expect(res.headers['set-cookie'], url).toBeUndefined();
    }
    const css = await app.inject('/assets/dashboard.css');
    expect(
      (await app.inject({ url: '/assets/dashboard.css', headers: { 'if-none-match': css.headers.etag as string } }))
        .statusCode,
    ).toBe(304);
    // A missing file, a source map, a prefetch or a fetch without a session: 401, not the login page.
    for (const [url, mode] of [
      ['/board/static/js/main.js.map', 'no-cors'],
      ['/apple-touch-icon.png', 'no-cors'],
      ['/dead-letters', 'cors'],
      ['/board', 'no-cors'],
    ] as const) {
      const res = await app.inject({ url, headers: { 'sec-fetch-mode': mode, accept: '*/*' } });
      expect([401, 404], url).toContain(res.statusCode);
      expect(res.headers.location, url).toBeUndefined();
      expect(res.headers['set-cookie'], url).toBeUndefined();
    }
    // A navigation still lands on the login page.
    const nav = await app.inject({ url: '/dead-letters', headers: { 'sec-fetch-mode': 'navigate' } });
    expect(nav.statusCode).toBe(302);
    expect(nav.headers.location).toBe('/login?next=%2Fdead-letters');
  });

  it('logs in on the first try whatever else the browser loads meanwhile: favicon, a reload, a second tab (issue 9)', async () => {
    const app = await t.app();
    const page = await app.inject('/login');
    let jar = cookieHeader(page);
    const token = /name="_login" value="([^"]+)"/.exec(page.body)![1]!;
    // The browser's own requests, and a second tab on the login page, keep the token of the form already open.
    for (const url of ['/favicon.ico', '/login?next=%2Ffavicon.ico', '/login', '/board/static/favicon-32x32.png']) {
      const res = await app.inject({ url, headers: { cookie: jar } });
      jar = cookieHeader(res, jar);
      if (url.startsWith('/login')) expect(/name="_login" value="([^"]+)"/.exec(res.body)![1]).toBe(token);
    }
    const post = (cookie: string, field: string, headers: Record<string, string> = {}) =>
      app.inject({
        method: 'POST',
        url: '/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, ...headers },
        payload: `username=op&password=${PASSWORDS.op}&_login=${encodeURIComponent(field)}`,
      });
    const ok = await post(jar, token);
    expect(ok.statusCode).toBe(303);
    expect(ok.headers.location).toBe('/board');

    // Two tabs that opened at the same moment each got a token; the cookie holds the second's. A browser says the
    // first tab's post is same-origin, so it is accepted; the same post from another site, or without the
    // browser's word, is not.
    const tab1 = await app.inject('/login');
    const tab2 = await app.inject('/login');
    const first = /name="_login" value="([^"]+)"/.exec(tab1.body)![1]!;
    const cookie = cookieHeader(tab2);
    expect(first).not.toBe(/name="_login" value="([^"]+)"/.exec(tab2.body)![1]);
    expect((await post(cookie, first)).statusCode).toBe(403);
    expect((await post(cookie, first, { 'sec-fetch-site': 'cross-site' })).statusCode).toBe(403);
    expect((await post(cookie, first, { 'sec-fetch-site': 'same-origin' })).statusCode).toBe(303);
    // A token this dashboard never issued is refused whatever the headers say.
    expect((await post('', 'forged.1.x', { 'sec-fetch-site': 'same-origin' })).statusCode).toBe(403);
  });

  it('sets an HttpOnly, SameSite=Strict, expiring session cookie, Secure when configured', async () => {
    const app = await t.app();
    const { res } = await login(app, 'op');
    const session = res.cookies.find((c) => c.name === 'bullpen_session')!;
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/', maxAge: 8 * 3600 });
    expect(session.secure).toBeFalsy();
    const xsrf = res.cookies.find((c) => c.name === 'XSRF-TOKEN')!;
    expect(xsrf.httpOnly).toBeFalsy();
    expect(xsrf.value).toBe(res.json().csrfToken);
    await app.close();

    const secure = await t.app({ DASHBOARD_COOKIE_SECURE: 'true', DASHBOARD_SESSION_TTL_SECONDS: '600' });
    const { res: res2 } = await login(secure, 'op');
    const c2 = res2.cookies.find((c) => c.name === 'bullpen_session')!;
    expect(c2).toMatchObject({ secure: true, httpOnly: true, sameSite: 'Strict', maxAge: 600 });
  });

  it('refuses a mutating call without the CSRF token, on its own routes and on Bull Board', async () => {
    const app = await t.app();
    const { cookie, csrf } = await login(app, 'op');
    const body = { target: { queue: 'images' }, dryRun: true };
    for (const headers of [{ cookie }, { cookie, 'x-csrf-token': 'forged' }, { cookie, 'x-csrf-token': `${csrf}x` }]) {
      const res = await app.inject({ method: 'POST', url: '/api/dead-letters/replay', headers, payload: body });
      expect(res.statusCode).toBe(403);
      expect(res.json().error.code).toBe('CSRF_INVALID');
    }
    const form = await app.inject({
      method: 'POST',
      url: '/dead-letters/replay',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'queue=images&dryRun=true',
    });
    expect(form.statusCode).toBe(403);
    const board = await app.inject({ method: 'PUT', url: '/board/api/queues/images/pause', headers: { cookie } });
    expect(board.statusCode).toBe(403);
    expect(board.json().error.code).toBe('CSRF_INVALID');
    expect(
      await app.inject({
        method: 'POST',
        url: '/api/dead-letters/replay',
        headers: { cookie, 'x-csrf-token': csrf },
        payload: body,
      }),
    ).toMatchObject({ statusCode: 200 });
    const formOk = await app.inject({
      method: 'POST',
      url: '/dead-letters/replay',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: `queue=images&dryRun=true&_csrf=${encodeURIComponent(csrf)}`,
    });
    expect(formOk.statusCode).toBe(200);
    // Bull Board's client echoes the XSRF-TOKEN cookie as X-XSRF-TOKEN.
    const paused = await app.inject({
      method: 'PUT',
      url: '/board/api/queues/images/pause',
      headers: { cookie, 'x-xsrf-token': csrf },
    });
    expect(paused.statusCode).toBeLessThan(300);
    const audit = await app.inject({ url: '/api/audit', headers: { cookie } });
    expect(audit.json().entries[0]).toMatchObject({ actor: 'op', action: 'pause', queue: 'images', outcome: 'ok' });
  });

  it('refuses a login form posted without the login page token', async () => {
    const app = await t.app();
    const res = await app.inject({
      method: 'POST',
      url: '/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `username=op&password=${PASSWORDS.op}`,
    });
    expect(res.statusCode).toBe(403);
    expect(res.cookies.find((c) => c.name === 'bullpen_session')).toBeUndefined();
    const page = await app.inject('/login');
    const token = /name="_login" value="([^"]+)"/.exec(page.body)![1]!;
    const ok = await app.inject({
      method: 'POST',
      url: '/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieHeader(page) },
      payload: `username=op&password=${PASSWORDS.op}&_login=${encodeURIComponent(token)}&next=${encodeURIComponent('/audit')}`,
    });
    expect(ok.statusCode).toBe(303);
    expect(ok.headers.location).toBe('/audit');
  });

  it('ends the session on logout', async () => {
    const app = await t.app();
    const { cookie, csrf } = await login(app, 'viewer');
    expect((await app.inject({ url: '/api/me', headers: { cookie } })).json()).toMatchObject({
      user: 'viewer',
      role: 'viewer',
    });
    const out = await app.inject({ method: 'POST', url: '/logout', headers: { cookie, 'x-csrf-token': csrf } });
    expect(out.statusCode).toBe(200);
    const after = await app.inject({ url: '/api/me', headers: { cookie } });
    expect(after.statusCode).toBe(401);
  });

  it('gives viewers read-only access: 403 AUTH_FORBIDDEN on every mutating route', async () => {
    const app = await t.app();
    const { cookie, csrf } = await login(app, 'viewer');
    const headers = { cookie, 'x-csrf-token': csrf, 'x-xsrf-token': csrf };
    const calls = [
      ['POST', '/api/dead-letters/replay', { target: { queue: 'images' } }],
      ['POST', '/api/dead-letters/discard', { target: { queue: 'images' } }],
      ['PUT', '/api/dead-letters/images/x/payload', { payload: {} }],
      ['PUT', '/board/api/queues/images/pause', undefined],
      ['PUT', '/board/api/queues/images/x/retry', undefined],
      ['PUT', '/board-readonly/api/queues/images/pause', undefined],
      ['PUT', '/board-readonly/api/queues/images/clean/completed', undefined],
    ] as const;
    for (const [method, url, payload] of calls) {
      const res = await app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
      expect(res.statusCode, `${method} ${url}`).toBe(403);
      expect(res.json().error.code, `${method} ${url}`).toBe('AUTH_FORBIDDEN');
    }
    const board = await app.inject({ url: '/board/queue/images', headers: { cookie } });
    expect(board.statusCode).toBe(302);
    expect(board.headers.location).toBe('/board-readonly/queue/images');
    const ro = await app.inject({ url: '/board-readonly/api/queues', headers: { cookie } });
    expect(ro.statusCode).toBe(200);
    expect(ro.json().queues.every((q: { readOnlyMode: boolean }) => q.readOnlyMode)).toBe(true);
  });

  it('accepts HTTP Basic auth for scripts, without CSRF, and refuses wrong credentials', async () => {
    const app = await t.app();
    const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
    const ok = await app.inject({
      method: 'POST',
      url: '/api/dead-letters/replay',
      headers: { authorization: basic('op', PASSWORDS.op) },
      payload: { target: { queue: 'images' }, dryRun: true },
    });
    expect(ok.statusCode).toBe(200);
    const bad = await app.inject({ url: '/api/audit', headers: { authorization: basic('op', 'nope') } });
    expect(bad.statusCode).toBe(401);
    expect(bad.json().error.code).toBe('AUTH_INVALID_CREDENTIALS');
    expect(bad.headers['www-authenticate']).toBeUndefined();
  });

  it('refuses Bull Board actions that bypass the registry (add job, edit data, obliterate)', async () => {
    const app = await t.app();
    const { cookie, csrf } = await login(app, 'op');
    const headers = { cookie, 'x-xsrf-token': csrf };
    for (const [method, url] of [
      ['POST', '/board/api/queues/images/add'],
      ['PATCH', '/board/api/queues/images/x/update-data'],
      ['PUT', '/board/api/queues/images/obliterate'],
      ['PUT', '/board/api/queues/images/empty'],
    ] as const) {
      const res = await app.inject({ method, url, headers, payload: {} });
      expect(res.statusCode, url).toBe(403);
      expect(res.json().error.code).toBe('DASHBOARD_ACTION_DISABLED');
    }
  });

  it('serves /metrics without ids or payloads, behind a bearer token when one is set', async () => {
    const app = await t.app({ DASHBOARD_METRICS_TOKEN: 'metrics-token-0123456789' });
    expect((await app.inject('/metrics')).statusCode).toBe(401);
    const res = await app.inject({ url: '/metrics', headers: { authorization: 'Bearer metrics-token-0123456789' } });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('bullpen_queue_jobs{queue="images.dead",state="waiting"} 0');
    expect(res.body).not.toMatch(/upload-|password|session/i);
  });

  it('shows a banner on every page when auth is switched off, and needs no login', async () => {
    const app = await t.app({ DASHBOARD_AUTH_DISABLED: 'true', DASHBOARD_USERS: '', DASHBOARD_SESSION_SECRET: '' });
    expect((await app.inject('/healthz')).cookies).toEqual([]);
    for (const url of ['/dead-letters', '/audit', '/search', '/board', '/board/queue/images']) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(200);
      expect(res.body, url).toContain('Authentication is OFF');
    }
  });

  it('mints no session in Redis when auth is off, yet still checks CSRF tokens (issue 9)', async () => {
    const app = await t.app({ DASHBOARD_AUTH_DISABLED: 'true', DASHBOARD_USERS: '', DASHBOARD_SESSION_SECRET: '' });
    const redis = t.connect();
    for (let i = 0; i < 20; i++) expect((await app.inject({ url: '/dead-letters' })).statusCode).toBe(200);
    const me = await app.inject('/api/me');
    expect(await redis.keys(`${t.prefix}:dashboard:session:*`)).toEqual([]);
    const cookie = cookieHeader(me);
    const body = { target: { queue: 'images' }, dryRun: true };
    const refused = await app.inject({
      method: 'POST',
      url: '/api/dead-letters/replay',
      headers: { cookie },
      payload: body,
    });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.code).toBe('CSRF_INVALID');
    const ok = await app.inject({
      method: 'POST',
      url: '/api/dead-letters/replay',
      headers: { cookie, 'x-csrf-token': me.json().csrfToken },
      payload: body,
    });
    expect(ok.statusCode).toBe(200);
  });
});

describe('dead letters over HTTP', () => {
  useUsers();
  const t = useDashboardTest();

  async function deadLetters(n: number) {
    const worker = t.worker({
      'image.resize': async (p) => {
        throw new PermanentJobError('IMAGE_CORRUPT', `cannot decode ${p.uploadId}`);
      },
      'webhook.deliver': async () => {},
    });
    await worker.waitUntilReady();
    const producer = t.producer();
    const ids: string[] = [];
    for (let i = 0; i < n; i++)
      ids.push((await producer.enqueue('image.resize', imagePayload(`upload-${i}0000`))).jobId);
    const app = await t.app();
    const { cookie, csrf } = await login(app, 'op');
    const headers = { cookie, 'x-csrf-token': csrf };
    await waitFor(
      async () => (await app.inject({ url: '/api/dead-letters', headers })).json().letters.length === n,
      10_000,
      'letters',
    );
    return { app, headers, ids, worker, producer };
  }

  it('groups, dry-runs (refusing payloads that no longer fit), replays and audits', async () => {
    const { app, headers, ids } = await deadLetters(3);
    const groups = (await app.inject({ url: '/api/dead-letters/groups', headers })).json().groups;
    expect(groups).toHaveLength(1);
    expect(groups[0]).toMatchObject({
      name: 'image.resize',
      queue: 'images',
      deadLetterQueue: 'images.dead',
      count: 3,
    });
    // One letter's payload is from an older schema.
    const admin = t.connect('admin');
    const { Queue } = await import('bullmq');
    const dead = new Queue('images.dead', { connection: admin, prefix: t.prefix });
    t.defer(() => dead.close());
    const job = (await dead.getJob(ids[0]!))!;
    await job.updateData({ ...job.data, payload: { ...job.data.payload, width: 'wide' } });

    const dry = await app.inject({
      method: 'POST',
      url: '/api/dead-letters/replay',
      headers,
      payload: { target: { queue: 'images', fingerprint: groups[0].fingerprint }, dryRun: true },
    });
    expect(dry.json()).toMatchObject({ dryRun: true, replayed: 2, refused: 1 });
    expect(dry.json().outcomes.find((o: { id: string }) => o.id === ids[0])).toMatchObject({
      status: 'refused',
      code: 'JOB_PAYLOAD_INVALID',
      reason: expect.stringContaining('width'),
    });
    expect((await app.inject({ url: '/api/dead-letters', headers })).json().letters).toHaveLength(3);

    const page = await app.inject({
      method: 'POST',
      url: '/dead-letters/replay',
      headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
      payload: `queue=images&fingerprint=${groups[0].fingerprint}&dryRun=true`,
    });
    expect(page.body).toContain('would be refused');
    expect(page.body).toContain('JOB_PAYLOAD_INVALID');

    const bad = await app.inject({
      method: 'PUT',
      url: `/api/dead-letters/images/${encodeURIComponent(ids[1]!)}/payload`,
      headers,
      payload: { payload: { uploadId: 'x' } },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatchObject({
      code: 'JOB_PAYLOAD_INVALID',
      issues: expect.arrayContaining([expect.objectContaining({ path: ['uploadId'] })]),
    });

    const fixed = await app.inject({
      method: 'PUT',
      url: `/api/dead-letters/images/${encodeURIComponent(ids[0]!)}/payload`,
      headers,
      payload: { payload: imagePayload('upload-fixed01') },
    });
    expect(fixed.statusCode).toBe(200);
    expect(fixed.json().letter.edits).toHaveLength(1);

    const replay = await app.inject({
      method: 'POST',
      url: '/api/dead-letters/replay',
      headers,
      payload: { target: { ids, queue: 'images' } },
    });
    expect(replay.json()).toMatchObject({ dryRun: false, replayed: 3, refused: 0 });
    const audit = (await app.inject({ url: '/api/audit', headers })).json().entries;
    expect(audit.map((e: { action: string; outcome: string }) => `${e.action}:${e.outcome}`)).toEqual([
      'replay:ok',
      'edit:ok',
      'edit:refused',
    ]);
    expect(audit[0]).toMatchObject({ actor: 'op', ids });
  });

  it('shows each dead letter’s step timeline: finished steps, where each attempt failed, what a replay skips (issue 9)', async () => {
    const worker = t.worker({
      'image.resize': async (p, ctx) => {
        await ctx.step('variant:128.webp', () => ({ bytes: 1234 }));
        await ctx.step('variant:512.webp', () => {
          throw new PermanentJobError('IMAGE_ENCODE_FAILED', `cannot encode 512.webp of ${p.uploadId}`);
        });
      },
      'webhook.deliver': async () => {},
    });
    await worker.waitUntilReady();
    const { jobId } = await t.producer().enqueue('image.resize', imagePayload('upload-t0000001'));
    const app = await t.app();
    const { cookie, csrf } = await login(app, 'op');
    const url = `/api/dead-letters/images/${encodeURIComponent(jobId)}/timeline`;
    const res = await waitFor(async () => {
      const r = await app.inject({ url, headers: { cookie } });
      return r.statusCode === 200 ? r : undefined;
    }, 10_000);
    const tl = res.json().timeline;
    expect(tl.steps).toEqual([{ name: 'variant:128.webp', at: expect.any(String), bytes: 14 }]);
    expect(tl.attempts).toEqual([
      expect.objectContaining({
        jobId,
        attempt: 1,
        step: 'variant:512.webp',
        code: 'IMAGE_ENCODE_FAILED',
        at: expect.any(String),
      }),
    ]);
    expect(tl.replay).toMatchObject({ skips: ['variant:128.webp'], resumesAt: 'variant:512.webp', freshLedger: false });

    const page = await app.inject({ url: `/dead-letters/images/${encodeURIComponent(jobId)}`, headers: { cookie } });
    expect(page.body).toMatch(/skips 1 finished step<\/strong> \(<code>variant:128\.webp<\/code>/);
    expect(page.body).toContain('runs again from <code>variant:512.webp</code>');
    expect(page.body).toMatch(/Attempt 1 failed in step <code>variant:512\.webp<\/code>/);
    // The dry run says it too, before the button.
    const dry = await app.inject({
      method: 'POST',
      url: '/dead-letters/replay',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: `ids=${encodeURIComponent(jobId)}&queue=images&selection=true&dryRun=true&_csrf=${encodeURIComponent(csrf)}`,
    });
    expect(dry.body).toMatch(/data-testid="replay-steps"><span class="bp-tag skip">skips 1<\/span>/);
    expect(dry.body).toContain('<code>variant:512.webp</code>');
    expect((await app.inject({ url: '/api/dead-letters/images/nope/timeline', headers: { cookie } })).statusCode).toBe(
      404,
    );
  });

  it('refuses an empty target unless all letters are asked for', async () => {
    const app = await t.app();
    const { cookie, csrf } = await login(app, 'op');
    const res = await app.inject({
      method: 'POST',
      url: '/api/dead-letters/discard',
      headers: { cookie, 'x-csrf-token': csrf },
      payload: { target: {} },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('REQUEST_INVALID');
  });

  it('records a Bull Board retry as a retry and removes the dead letter of the retried job', async () => {
    const { app, headers, ids } = await deadLetters(1);
    const id = ids[0]!;
    await waitFor(
      async () =>
        (await app.inject({ url: `/board/api/queues/images/${encodeURIComponent(id)}`, headers })).json().job
          ?.failedReason,
      10_000,
      'failed job',
    );
    const res = await app.inject({
      method: 'PUT',
      url: `/board/api/queues/images/${encodeURIComponent(id)}/retry`,
      headers: { cookie: headers.cookie, 'x-xsrf-token': headers['x-csrf-token'] },
    });
    expect(res.statusCode).toBe(204);
    const entry = (await app.inject({ url: '/api/audit', headers }))
      .json()
      .entries.find((e: { action: string }) => e.action === 'retry');
    expect(entry).toMatchObject({
      actor: 'op',
      action: 'retry',
      queue: 'images',
      ids: [id],
      outcome: 'ok',
      detail: { via: 'bull-board', removedDeadLetters: [id] },
    });
  });

  it('escapes user data in pages and finds jobs by upload id', async () => {
    const { app, headers, ids } = await deadLetters(1);
    const admin = t.connect('admin');
    const { Queue } = await import('bullmq');
    const dead = new Queue('images.dead', { connection: admin, prefix: t.prefix });
    t.defer(() => dead.close());
    const job = (await dead.getJob(ids[0]!))!;
    const evil = '<img src=x onerror=alert(1)>';
    await job.updateData({
      ...job.data,
      payload: { ...job.data.payload, originalKey: evil },
      error: { ...job.data.error, message: `<script>alert(2)</script>` },
    });
    for (const url of [
      `/dead-letters/images/${encodeURIComponent(ids[0]!)}`,
      '/dead-letters',
      '/dead-letters/list',
      `/dead-letters/images/${encodeURIComponent(ids[0]!)}/edit`,
    ]) {
      const res = await app.inject({ url, headers: { cookie: headers.cookie } });
      expect(res.statusCode, url).toBe(200);
      expect(res.body, url).not.toContain('<img src=x');
      expect(res.body, url).not.toContain('<script>alert');
    }
    const search = await app.inject({ url: '/api/search?q=upload-00000', headers });
    expect(
      search
        .json()
        .results.map((r: { queue: string }) => r.queue)
        .sort(),
    ).toEqual(['images', 'images.dead']);
    expect(registry.queues).toContain('images');
  });
});
