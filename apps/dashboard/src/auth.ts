import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DashboardContext } from './context.ts';
import { authRequired, csrfInvalid, forbidden, invalidCredentials, loginRateLimited } from './errors.ts';
import { isApiRequest, sendJsonError } from './reply-error.ts';
import type { Identity } from './users.ts';

export const SESSION_COOKIE = 'bullpen_session';
/** Read by Bull Board's axios client, which echoes it in `X-XSRF-TOKEN` on same-origin requests. */
export const CSRF_COOKIE = 'XSRF-TOKEN';
export const LOGIN_COOKIE = 'bullpen_login';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const LOCAL_USER = 'local-dev';
const BASIC_CACHE_MS = 60_000;

export function clientIp(req: FastifyRequest): string {
  return req.ip || req.socket.remoteAddress || 'unknown';
}

/** Sets the session cookie (HttpOnly) and the CSRF cookie (readable by the page's scripts). */
export function setSessionCookies(ctx: DashboardContext, reply: FastifyReply, cookie: string, csrf: string) {
  const base = {
    path: '/',
    sameSite: 'strict' as const,
    secure: ctx.config.DASHBOARD_COOKIE_SECURE,
    maxAge: ctx.sessions.ttlSeconds,
  };
  reply.setCookie(SESSION_COOKIE, cookie, { ...base, httpOnly: true });
  reply.setCookie(CSRF_COOKIE, csrf, { ...base, httpOnly: false });
}

export function clearSessionCookies(ctx: DashboardContext, reply: FastifyReply) {
  const base = { path: '/', sameSite: 'strict' as const, secure: ctx.config.DASHBOARD_COOKIE_SECURE };
  reply.clearCookie(SESSION_COOKIE, { ...base, httpOnly: true });
  reply.clearCookie(CSRF_COOKIE, base);
}

/**
 * Default deny: every route needs a session (or HTTP Basic credentials) unless it says `public`;
 * only operators may call mutating routes; every mutating call from a session carries its CSRF token.
 */
export function installAuth(app: FastifyInstance, ctx: DashboardContext) {
  const basicCache = new Map<string, { identity: Identity; until: number }>();

  async function fromBasic(req: FastifyRequest, header: string): Promise<Identity> {
    const cacheKey = createHash('sha256').update(header).digest('hex');
    const hit = basicCache.get(cacheKey);
    if (hit && hit.until > Date.now() && ctx.users.get(hit.identity.user)) return hit.identity;
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const name = colon >= 0 ? decoded.slice(0, colon) : decoded;
    const password = colon >= 0 ? decoded.slice(colon + 1) : '';
    const ip = clientIp(req);
    const wait = await ctx.limiter.blockedFor(ip, name);
    if (wait > 0) throw loginRateLimited(wait);
    const user = await ctx.users.verify(name, password);
    if (!user) {
      await ctx.limiter.fail(ip, name);
      req.log.warn({ user: name, ip, via: 'basic' }, 'auth.login_failed');
      throw invalidCredentials();
    }
    const identity: Identity = { user: user.name, role: user.role, via: 'basic' };
    if (basicCache.size > 1000) basicCache.clear();
    basicCache.set(cacheKey, { identity, until: Date.now() + BASIC_CACHE_MS });
    return identity;
  }

  async function identify(req: FastifyRequest, reply: FastifyReply, mayCreate: boolean): Promise<Identity | undefined> {
    const auth = req.headers.authorization;
    if (!ctx.authDisabled && auth?.toLowerCase().startsWith('basic ')) return fromBasic(req, auth);
    const session = await ctx.sessions.resolve(req.cookies[SESSION_COOKIE]);
    if (ctx.authDisabled) {
      if (session) return { user: session.user, role: 'operator', via: 'auth-disabled', sessionId: session.id };
      if (!mayCreate) return undefined;
      // No login, but still a session: CSRF tokens need one to be bound to.
      const created = await ctx.sessions.create(LOCAL_USER);
      setSessionCookies(ctx, reply, created.cookie, created.csrfToken);
      return { user: LOCAL_USER, role: 'operator', via: 'auth-disabled', sessionId: created.session.id };
    }
    if (!session) return undefined;
    // The role comes from today's config: a removed user's sessions end, a changed role applies at once.
    const user = ctx.users.get(session.user);
    return user ? { user: user.name, role: user.role, via: 'session', sessionId: session.id } : undefined;
  }

  app.decorateRequest('identity', undefined);

  app.addHook('onRequest', async (req, reply) => {
    const cfg = req.routeOptions.config ?? {};
    try {
      // Health checks and scrapes must not mint a session each (auth off), nor fail on a bad Basic header.
      req.identity = cfg.public
        ? await identify(req, reply, req.url.startsWith('/login')).catch(() => undefined)
        : await identify(req, reply, true);
    } catch (err) {
      return sendJsonError(reply, err);
    }
    if (cfg.public) return;
    const id = req.identity;
    if (!id) {
      if (SAFE_METHODS.has(req.method) && !isApiRequest(req)) {
        const next = req.url.startsWith('/') && !req.url.startsWith('//') ? req.url : '/';
        return reply.redirect(`/login?next=${encodeURIComponent(next)}`, 302);
      }
      return sendJsonError(reply, authRequired());
    }
    if (!SAFE_METHODS.has(req.method) && id.role !== 'operator' && !cfg.allowViewer) {
      req.log.warn({ user: id.user, method: req.method, url: req.url }, 'auth.forbidden');
      return sendJsonError(reply, forbidden());
    }
  });

  // After the body is parsed, so a form's `_csrf` field counts.
  app.addHook('preHandler', async (req, reply) => {
    if (SAFE_METHODS.has(req.method)) return;
    const cfg = req.routeOptions.config ?? {};
    const id = req.identity;
    if (cfg.skipCsrf || !id || id.via === 'basic') return;
    const body = req.body as Record<string, unknown> | undefined;
    const token =
      req.headers['x-csrf-token'] ??
      req.headers['x-xsrf-token'] ??
      (body && typeof body === 'object' && !Array.isArray(body) ? body._csrf : undefined);
    if (!id.sessionId || !ctx.sessions.checkCsrf(id.sessionId, token)) {
      req.log.warn({ user: id.user, method: req.method, url: req.url }, 'auth.csrf_refused');
      return sendJsonError(reply, csrfInvalid());
    }
  });
}
