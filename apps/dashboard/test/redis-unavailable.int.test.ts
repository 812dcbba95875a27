import { closeRedis, createRedisConnection } from '@bullpen/jobs';
import { startRedisServer } from '@bullpen/test-utils';
import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { cookieHeader, login, PASSWORDS, useDashboardTest, useUsers } from './helpers.ts';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

function expect503(res: LightMyRequestResponse, what: string) {
  expect(res.statusCode, what).toBe(503);
  expect(Number(res.headers['retry-after']), what).toBeGreaterThan(0);
  expect(res.json().error, what).toMatchObject({ code: 'REDIS_UNAVAILABLE', requestId: expect.any(String) });
  expect(res.body, what).not.toMatch(/maxmemory|ECONNREFUSED|Connection is closed/);
}

describe('the dashboard when Redis cannot serve', () => {
  useUsers();
  const t = useDashboardTest();

  /** A Redis of this test's own, so that it can be filled up and stopped. */
  async function ownRedis() {
    const server = await startRedisServer();
    const client = createRedisConnection(server.url, 'admin');
    client.on('error', () => {}); // the server is stopped on purpose
    t.defer(() => server.stop());
    t.defer(() => closeRedis(client));
    return { server, client };
  }

  it('fails closed with 503 REDIS_UNAVAILABLE when Redis refuses writes (maxmemory, noeviction), never an unlimited 401 (issue 9)', async () => {
    const { server, client } = await ownRedis();
    const app = await t.app({ REDIS_URL: server.url, DASHBOARD_LOGIN_MAX_PER_MINUTE: '5' });
    const { cookie, csrf } = await login(app, 'op');
    await client.config('SET', 'maxmemory', '1');
    await expect(client.set('probe', 'x')).rejects.toThrow(/OOM/);

    // Guesses cannot be counted, so none is checked: no 401 tells a right password from a wrong one.
    for (let i = 0; i < 12; i++) {
      expect503(
        await app.inject({ url: '/api/audit', headers: { authorization: basic('op', `wrong-${i}`) } }),
        `basic ${i}`,
      );
    }
    expect503(await app.inject({ url: '/api/audit', headers: { authorization: basic('op', PASSWORDS.op) } }), 'right');
    expect(await client.keys(`${t.prefix}:dashboard:login:*`)).toEqual([]);
    expect503(
      await app.inject({ method: 'POST', url: '/login', payload: { username: 'op', password: PASSWORDS.op } }),
      'json login',
    );
    const page = await app.inject('/login');
    const token = /name="_login" value="([^"]+)"/.exec(page.body)![1]!;
    const form = await app.inject({
      method: 'POST',
      url: '/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieHeader(page) },
      payload: `username=op&password=${PASSWORDS.op}&_login=${encodeURIComponent(token)}`,
    });
    expect(form.statusCode).toBe(503);
    expect(form.headers['retry-after']).toBeDefined();
    expect(form.body).toContain('Redis is unavailable');

    // Reads still work; a change (its audit entry is a write) is refused.
    expect((await app.inject({ url: '/api/audit', headers: { cookie } })).statusCode).toBe(200);
    expect503(
      await app.inject({
        method: 'POST',
        url: '/api/dead-letters/discard',
        headers: { cookie, 'x-csrf-token': csrf },
        payload: { target: { ids: ['nothing'], queue: 'images' } },
      }),
      'discard',
    );
    // Bull Board answers its own errors with 500: a Redis refusal there is our 503 too.
    const paused = await app.inject({
      method: 'PUT',
      url: '/board/api/queues/images/pause',
      headers: { cookie, 'x-xsrf-token': csrf },
    });
    expect503(paused, 'bull board action');
  });

  it('answers 503 REDIS_UNAVAILABLE, never 500, once Redis is down: pages, the API, Basic auth, Bull Board', async () => {
    const { server } = await ownRedis();
    const app = await t.app({ REDIS_URL: server.url });
    const { cookie } = await login(app, 'op');
    const open = await t.app({
      REDIS_URL: server.url,
      DASHBOARD_AUTH_DISABLED: 'true',
      DASHBOARD_USERS: '',
      DASHBOARD_SESSION_SECRET: '',
    });
    await server.stop();

    expect503(await app.inject({ url: '/api/audit', headers: { cookie } }), 'api');
    expect503(
      await app.inject({ url: '/api/dead-letters', headers: { authorization: basic('op', PASSWORDS.op) } }),
      'basic',
    );
    const html = await app.inject({ url: '/dead-letters', headers: { cookie, accept: 'text/html' } });
    expect(html.statusCode).toBe(503);
    expect(html.headers['retry-after']).toBeDefined();
    expect503(
      await app.inject({ method: 'POST', url: '/login', payload: { username: 'op', password: PASSWORDS.op } }),
      'login',
    );
    expect((await app.inject('/healthz')).statusCode).toBe(503);
    // The login page itself needs no Redis.
    expect((await app.inject('/login')).statusCode).toBe(200);
    // With auth off nothing of ours touches Redis first: Bull Board's own API meets the failure, and says 503 too.
    expect503(await open.inject({ url: '/board/api/queues' }), 'bull board');
    expect503(await open.inject({ url: '/api/dead-letters' }), 'api, auth off');
  });

  it('answers 503 REDIS_UNAVAILABLE within its command timeout while Redis hangs, and serves again once it answers', async () => {
    const { server } = await ownRedis();
    const app = await t.app({ REDIS_URL: server.url });
    const { cookie } = await login(app, 'op');
    // The process stops answering but keeps its connections open: no error, no close, only silence.
    process.kill(server.pid, 'SIGSTOP');
    const resume = () => {
      try {
        process.kill(server.pid, 'SIGCONT');
      } catch {} // stopped for good already
    };
    t.defer(async () => resume());
    try {
      expect503(await app.inject({ url: '/api/audit', headers: { cookie } }), 'api while hung');
      expect((await app.inject('/healthz')).statusCode).toBe(503);
    } finally {
      resume();
    }
    await expect
      .poll(async () => (await app.inject({ url: '/api/audit', headers: { cookie } })).statusCode, {
        timeout: 30_000,
        interval: 200,
      })
      .toBe(200);
  }, 60_000);
});
