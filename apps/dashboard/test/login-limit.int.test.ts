import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { cookieHeader, PASSWORDS, useDashboardTest, useUsers } from './helpers.ts';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** The limiter's counters in Redis: key → count. */
async function counters(t: ReturnType<typeof useDashboardTest>) {
  const redis = t.connect();
  const keys = await redis.keys(`${t.prefix}:dashboard:login:*`);
  return Object.fromEntries(await Promise.all(keys.map(async (k) => [k, Number(await redis.get(k))] as const)));
}

function tally(statuses: number[]) {
  const out: Record<number, number> = {};
  for (const s of statuses) out[s] = (out[s] ?? 0) + 1;
  return out;
}

describe('the login limit', () => {
  useUsers();
  const t = useDashboardTest();

  const json = (app: FastifyInstance, username: string, password: string, ip: string, cookie = '') =>
    app.inject({
      method: 'POST',
      url: '/login',
      payload: { username, password },
      remoteAddress: ip,
      ...(cookie ? { headers: { cookie } } : {}),
    });

  it('reserves each attempt before its password is checked: of 40 parallel guesses only the limit are checked (issue 9)', async () => {
    const app = await t.app({ DASHBOARD_LOGIN_MAX_PER_MINUTE: '5' });
    const guesses = Array.from({ length: 40 }, (_, i) => json(app, 'op', `wrong-${i}`, '10.1.0.1'));
    const answers = await Promise.all(guesses);
    expect(tally(answers.map((r) => r.statusCode))).toEqual({ 401: 5, 429: 35 });
    expect(answers.find((r) => r.statusCode === 429)!.json().error.code).toBe('LOGIN_RATE_LIMITED');
    expect(Object.values(await counters(t)).sort()).toEqual([5, 5]);

    const basicGuesses = Array.from({ length: 40 }, (_, i) =>
      app.inject({
        url: '/api/audit',
        headers: { authorization: basic('viewer', `wrong-${i}`) },
        remoteAddress: '10.1.0.2',
      }),
    );
    expect(tally((await Promise.all(basicGuesses)).map((r) => r.statusCode))).toEqual({ 401: 5, 429: 35 });

    // The login form too (each post carries its page's token).
    const page = await app.inject('/login');
    const token = /name="_login" value="([^"]+)"/.exec(page.body)![1]!;
    const forms = Array.from({ length: 20 }, (_, i) =>
      app.inject({
        method: 'POST',
        url: '/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieHeader(page) },
        payload: `username=op&password=wrong-${i}&_login=${encodeURIComponent(token)}`,
        remoteAddress: '10.1.0.3',
      }),
    );
    expect(tally((await Promise.all(forms)).map((r) => r.statusCode))).toEqual({ 401: 5, 429: 15 });
  });

  it('gives back the attempt of a right password, and checks parallel uses of one Basic credential once', async () => {
    const app = await t.app({ DASHBOARD_LOGIN_MAX_PER_MINUTE: '3' });
    for (let i = 0; i < 12; i++) expect((await json(app, 'op', PASSWORDS.op, '10.2.0.1')).statusCode).toBe(200);
    expect(await counters(t)).toEqual({});
    // A script's burst of requests with one (right) credential is one login, not a burst of guesses.
    const burst = Array.from({ length: 20 }, () =>
      app.inject({
        url: '/api/audit',
        headers: { authorization: basic('viewer', PASSWORDS.viewer) },
        remoteAddress: '10.2.0.2',
      }),
    );
    expect(tally((await Promise.all(burst)).map((r) => r.statusCode))).toEqual({ 200: 20 });
    expect(await counters(t)).toEqual({});
  });

  it('limits one client guessing one user, and guessing from many addresses, by the slower budget per user', async () => {
    const app = await t.app({ DASHBOARD_LOGIN_MAX_PER_MINUTE: '3' });
    for (let i = 0; i < 3; i++) expect((await json(app, 'op', 'wrong', '10.3.0.1')).statusCode).toBe(401);
    // That client is refused now, the right password included (it is never checked).
    const limited = await json(app, 'op', PASSWORDS.op, '10.3.0.1');
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    // 3 × 4 = 12 failures per 15 minutes for one user from clients that have not logged in as that user.
    for (let i = 0; i < 9; i++) expect((await json(app, 'op', 'wrong', `10.3.1.${i}`)).statusCode).toBe(401);
    const slow = await json(app, 'op', PASSWORDS.op, '10.3.2.1');
    expect(slow.statusCode).toBe(429);
    expect(Number(slow.headers['retry-after'])).toBeGreaterThan(60);
    // Basic auth is held to the same budget.
    const script = await app.inject({
      url: '/api/audit',
      headers: { authorization: basic('op', PASSWORDS.op) },
      remoteAddress: '10.3.2.2',
    });
    expect(script.statusCode).toBe(429);
  });

  it('hands attackers no lockout: other clients, a browser that logged in before, other users behind one address (issue 9)', async () => {
    const app = await t.app({ DASHBOARD_LOGIN_MAX_PER_MINUTE: '3' });
    // op logged in from this browser before: it holds a device token for op.
    const before = await json(app, 'op', PASSWORDS.op, '10.4.0.1');
    const device = cookieHeader(before)
      .split('; ')
      .find((c) => c.startsWith('bullpen_device='))!;
    expect(device).toBeDefined();

    // An attacker guesses op's password from 10.4.9.9 until refused, and keeps going.
    for (let i = 0; i < 3; i++) expect((await json(app, 'op', 'wrong', '10.4.9.9')).statusCode).toBe(401);
    for (let i = 0; i < 5; i++) expect((await json(app, 'op', 'wrong', '10.4.9.9')).statusCode).toBe(429);
    // op, anywhere else, still logs in.
    expect((await json(app, 'op', PASSWORDS.op, '10.4.0.2')).statusCode).toBe(200);
    // Failures with unknown names from one address (a proxy, say) refuse nobody else there.
    for (const name of ['alice', 'bob', 'carol', 'dave', 'eve', 'mallory'])
      for (let i = 0; i < 3; i++) expect((await json(app, name, 'x', '10.4.5.5')).statusCode).toBe(401);
    expect((await json(app, 'viewer', PASSWORDS.viewer, '10.4.5.5')).statusCode).toBe(200);

    // Behind one proxy address, an attacker spends op's per-client and per-user budgets...
    for (let i = 0; i < 3; i++) expect((await json(app, 'op', 'wrong', '10.4.5.5')).statusCode).toBe(401);
    for (let i = 0; i < 12; i++) await json(app, 'op', 'wrong', `10.4.6.${i}`);
    expect((await json(app, 'op', PASSWORDS.op, '10.4.5.5')).statusCode).toBe(429);
    // ...and op's own browser, from that same address, logs in all the same: its budget is its own.
    const again = await json(app, 'op', PASSWORDS.op, '10.4.5.5', device);
    expect(again.statusCode).toBe(200);
    // Guessing from that browser is limited too.
    for (let i = 0; i < 3; i++) expect((await json(app, 'op', 'wrong', '10.4.5.5', device)).statusCode).toBe(401);
    expect((await json(app, 'op', PASSWORDS.op, '10.4.5.5', device)).statusCode).toBe(429);
  });

  it('refuses a cached Basic credential while its client is rate-limited (issue 9)', async () => {
    const app = await t.app({ DASHBOARD_LOGIN_MAX_PER_MINUTE: '3' });
    const get = (password: string) =>
      app.inject({ url: '/api/audit', headers: { authorization: basic('op', password) }, remoteAddress: '10.5.0.1' });
    expect((await get(PASSWORDS.op)).statusCode).toBe(200); // now cached
    for (let i = 0; i < 3; i++) expect((await get(`wrong-${i}`)).statusCode).toBe(401);
    const cached = await get(PASSWORDS.op);
    expect(cached.statusCode).toBe(429);
    expect(cached.json().error.code).toBe('LOGIN_RATE_LIMITED');
  });
});
