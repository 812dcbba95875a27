import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RedisClient } from '@bullpen/jobs';

export interface Session {
  id: string;
  user: string;
  createdAt: string;
  expiresAt: string;
}

function hmac(secret: string, purpose: string, value: string): string {
  return createHmac('sha256', secret).update(`${purpose}:${value}`).digest('base64url');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Server-side sessions in Redis, so that logout (or deleting the key) ends a session at once.
 * The cookie holds `<id>.<hmac>`; Redis stores only a hash of the id, so its contents give no cookie away.
 * CSRF tokens are an HMAC of the session id: bound to one session, nothing to store.
 */
export class SessionStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly secret: string,
    readonly ttlSeconds: number,
  ) {}

  private key(id: string): string {
    return `${this.prefix}:dashboard:session:${createHash('sha256').update(id).digest('hex')}`;
  }

  async create(user: string): Promise<{ session: Session; cookie: string; csrfToken: string }> {
    const id = randomBytes(24).toString('base64url');
    const now = Date.now();
    const session: Session = {
      id,
      user,
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + this.ttlSeconds * 1000).toISOString(),
    };
    await this.redis.set(
      this.key(id),
      JSON.stringify({ user, createdAt: session.createdAt, expiresAt: session.expiresAt }),
      'EX',
      this.ttlSeconds,
    );
    return { session, cookie: `${id}.${hmac(this.secret, 'session', id)}`, csrfToken: this.csrfToken(id) };
  }

  /** The session a cookie names, when its signature holds and it has not expired or been ended. */
  async resolve(cookie: string | undefined): Promise<Session | undefined> {
    const id = this.verifyCookie(cookie);
    if (!id) return undefined;
    const stored = await this.redis.get(this.key(id));
    if (!stored) return undefined;
    const data = JSON.parse(stored) as Omit<Session, 'id'>;
    if (Date.parse(data.expiresAt) <= Date.now()) return undefined;
    return { id, ...data };
  }

  async destroy(cookie: string | undefined): Promise<void> {
    const id = this.verifyCookie(cookie);
    if (id) await this.redis.del(this.key(id));
  }

  /**
   * With auth off: an id to bind CSRF tokens to, signed in the cookie and stored nowhere, so that a request
   * without cookies (a health probe, a script, a crawler) costs Redis nothing.
   */
  mintUnstored(): { id: string; cookie: string; csrfToken: string } {
    const id = randomBytes(24).toString('base64url');
    return { id, cookie: `${id}.${hmac(this.secret, 'session', id)}`, csrfToken: this.csrfToken(id) };
  }

  /** The id an unstored cookie (auth off) names, when its signature holds. */
  unstoredId(cookie: string | undefined): string | undefined {
    return this.verifyCookie(cookie);
  }

  csrfToken(sessionId: string): string {
    return hmac(this.secret, 'csrf', sessionId);
  }

  checkCsrf(sessionId: string, token: unknown): boolean {
    return typeof token === 'string' && token.length > 0 && safeEqual(token, this.csrfToken(sessionId));
  }

  private verifyCookie(cookie: string | undefined): string | undefined {
    if (!cookie) return undefined;
    const dot = cookie.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const id = cookie.slice(0, dot);
    return safeEqual(cookie.slice(dot + 1), hmac(this.secret, 'session', id)) ? id : undefined;
  }
}

/** How long a login form token is accepted, and after what age a new page gets a new one instead of reusing it. */
export const LOGIN_TOKEN_SECONDS = 2 * 3600;
const LOGIN_TOKEN_REUSE_SECONDS = 30 * 60;

function parseLoginToken(secret: string, value: unknown, now: number): { issuedAt: number } | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^([A-Za-z0-9_-]{16,64})\.(\d{1,12})\.([A-Za-z0-9_-]+)$/.exec(value);
  if (!m) return undefined;
  const issuedAt = Number(m[2]);
  if (!safeEqual(m[3]!, hmac(secret, 'login', `${m[1]}.${m[2]}`))) return undefined;
  if (issuedAt > now + 60 || now - issuedAt >= LOGIN_TOKEN_SECONDS) return undefined;
  return { issuedAt };
}

/**
 * The login form's token (double-submit: a cookie and a hidden field that must match, signed so that it cannot be
 * planted). A page reuses the browser's token while it is young, so that anything else the browser loads meanwhile
 * (a favicon, a second tab, a prefetch) never invalidates a form already open.
 */
export function loginFormToken(secret: string, current: unknown, now = Math.floor(Date.now() / 1000)): string {
  const valid = parseLoginToken(secret, current, now);
  if (valid && now - valid.issuedAt < LOGIN_TOKEN_REUSE_SECONDS) return current as string;
  const body = `${randomBytes(16).toString('base64url')}.${now}`;
  return `${body}.${hmac(secret, 'login', body)}`;
}

/**
 * A login form post is ours when its field matches the browser's login cookie, or, in a browser that says the post
 * came from this origin (`Sec-Fetch-Site: same-origin`, which no other site can make it send), when the field is a
 * token this dashboard issued (two tabs opened at the same moment each got a token; the last one set the cookie).
 */
export function checkLoginFormToken(
  secret: string,
  cookie: unknown,
  field: unknown,
  sameOrigin: boolean,
  now = Math.floor(Date.now() / 1000),
): boolean {
  if (!parseLoginToken(secret, field, now)) return false;
  return sameOrigin || (typeof cookie === 'string' && safeEqual(cookie, field as string));
}

/**
 * A device token: set in a browser when a user logs in there, so that later logins from it are told apart from an
 * attacker's guesses (the limiter gives such a browser a budget of its own). Bound to the user and a hash of their
 * password hash: a changed password voids it.
 */
export function deviceToken(secret: string, user: string, passwordHash: string): string {
  const body = `${Buffer.from(user).toString('base64url')}.${randomBytes(12).toString('base64url')}`;
  return `${body}.${hmac(secret, 'device', `${body}.${sha256(passwordHash)}`)}`;
}

/** The device id a token names, when it is valid for this user. */
export function checkDeviceToken(
  secret: string,
  token: unknown,
  user: { name: string; hash: string },
): string | undefined {
  if (typeof token !== 'string') return undefined;
  const m = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]+)$/.exec(token);
  if (!m || Buffer.from(m[1]!, 'base64url').toString('utf8') !== user.name) return undefined;
  const body = `${m[1]}.${m[2]}`;
  return safeEqual(m[3]!, hmac(secret, 'device', `${body}.${sha256(user.hash)}`)) ? m[2] : undefined;
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('base64url');
}
