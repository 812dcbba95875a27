import { parseConfig } from '@bullpen/config';
import {
  closeRedis,
  createProducer,
  createRedisConnection,
  createWorker,
  type HandlerMap,
  type RedisClient,
} from '@bullpen/jobs';
import { useRedisTest } from '@bullpen/test-utils';
import { registry } from '@bullpen/uploads';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeAll } from 'vitest';
import { buildApp } from '../src/app.ts';
import { hashPassword } from '../src/passwords.ts';

export const PASSWORDS = { op: 'operator-password-1', viewer: 'viewer-password-1' } as const;
export const SECRET = 'test-session-secret-0123456789abcdefghij';

let users = '';
/** Hashes the test users once per file (a cheap scrypt cost: tests only). */
export function useUsers() {
  beforeAll(async () => {
    const fast = { N: 1024, r: 8, p: 1 };
    users = [
      `op:operator:${await hashPassword(PASSWORDS.op, fast)}`,
      `viewer:viewer:${await hashPassword(PASSWORDS.viewer, fast)}`,
    ].join(',');
  });
}

/**
 * Per test: a fresh prefix, the dashboard and anything else made through it closed after the test,
 * then useRedisTest's check that no connection is left open.
 */
export function useDashboardTest() {
  const closers: (() => Promise<unknown>)[] = [];
  const redis = useRedisTest();
  afterEach(async () => {
    while (closers.length) await closers.pop()!().catch(() => {});
  });
  const t = {
    get prefix() {
      return redis.prefix;
    },
    get url() {
      return redis.url;
    },
    config(env: Record<string, string> = {}) {
      return parseConfig('dashboard', {
        REDIS_URL: redis.url,
        BULLPEN_PREFIX: redis.prefix,
        DASHBOARD_USERS: users,
        DASHBOARD_SESSION_SECRET: SECRET,
        LOG_LEVEL: 'silent',
        NODE_ENV: 'test',
        ...env,
      });
    },
    async app(env: Record<string, string> = {}): Promise<FastifyInstance> {
      const app = await buildApp(t.config(env), { registry });
      closers.push(() => app.close());
      await app.ready();
      return app;
    },
    connect(role: 'worker' | 'producer' | 'admin' = 'admin'): RedisClient {
      const c = createRedisConnection(redis.url, role);
      // Connections close after everything that uses them (closers run last-in first-out).
      closers.unshift(() => closeRedis(c));
      return c;
    },
    defer(fn: () => Promise<unknown>) {
      closers.push(fn);
    },
    producer() {
      const p = createProducer(registry, { connection: t.connect('producer'), prefix: redis.prefix });
      closers.push(() => p.close());
      return p;
    },
    worker(handlers: HandlerMap<typeof registry>) {
      const w = createWorker(registry, handlers, {
        connection: t.connect('worker'),
        prefix: redis.prefix,
        concurrency: 4,
        lockDurationMs: 5000,
        stalledIntervalMs: 2000,
      });
      closers.push(() => w.close({ deadlineMs: 2000 }));
      return w;
    },
  };
  return t;
}

export function imagePayload(uploadId: string) {
  return { uploadId, originalKey: `originals/${uploadId}`, format: 'png' as const, width: 640, height: 480 };
}

/** Cookies from a response's set-cookie headers, as `name=value; ...` for the next request. */
export function cookieHeader(res: { cookies: { name: string; value: string }[] }, previous = ''): string {
  const jar = new Map(
    previous
      .split('; ')
      .filter(Boolean)
      .map((c) => c.split('=', 2) as [string, string]),
  );
  for (const c of res.cookies) {
    if (c.value === '') jar.delete(c.name);
    else jar.set(c.name, c.value);
  }
  return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
}

/** Logs in through the JSON API: the cookie header and the CSRF token. */
export async function login(app: FastifyInstance, user: keyof typeof PASSWORDS, remoteAddress = '127.0.0.1') {
  const res = await app.inject({
    method: 'POST',
    url: '/login',
    payload: { username: user, password: PASSWORDS[user] },
    remoteAddress,
  });
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
  return { cookie: cookieHeader(res), csrf: res.json().csrfToken as string, res };
}
