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

/** A token for the login form (double-submit: a cookie and a field that must match), signed so it cannot be planted. */
export function loginFormToken(secret: string): { cookie: string; field: string } {
  const nonce = randomBytes(16).toString('base64url');
  const value = `${nonce}.${hmac(secret, 'login', nonce)}`;
  return { cookie: value, field: value };
}

export function checkLoginFormToken(secret: string, cookie: unknown, field: unknown): boolean {
  if (typeof cookie !== 'string' || typeof field !== 'string' || !safeEqual(cookie, field)) return false;
  const dot = cookie.lastIndexOf('.');
  return dot > 0 && safeEqual(cookie.slice(dot + 1), hmac(secret, 'login', cookie.slice(0, dot)));
}
