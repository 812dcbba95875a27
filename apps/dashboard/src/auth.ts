import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BOARD_PATH, BOARD_READONLY_PATH, type DashboardContext } from './context.ts';
import {
  authRequired,
  csrfInvalid,
  forbidden,
  invalidCredentials,
  loginRateLimited,
  redisUnavailable,
} from './errors.ts';
import { sendErrorPage } from './layout.ts';
import { isApiRequest, sendJsonError } from './reply-error.ts';
import type { Identity } from './users.ts';

export const SESSION_COOKIE = 'bullpen_session';
/** Read by Bull Board's axios client, which echoes it in `X-XSRF-TOKEN` on same-origin requests. */
export const CSRF_COOKIE = 'XSRF-TOKEN';
export const LOGIN_COOKIE = 'bullpen_login';
/** Set where a user has logged in: that browser's later logins have a limiter budget of their own. */
export const DEVICE_COOKIE = 'bullpen_device';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const LOCAL_USER = 'local-dev';
const BASIC_CACHE_MS = 60_000;

export function clientIp(req: FastifyRequest): string {
  return req.ip || req.socket.remoteAddress || 'unknown';
}

/**
 * Files anyone may fetch: Bull Board's client bundle (the open-source package, no data in it) and ours. A browser
 * asks for some of them on its own, logged in or not; they are never redirected to the login page.
 */
export function isPublicAsset(req: FastifyRequest): boolean {
  if (req.routeOptions.config?.asset) return true;
  // By the route matched, not the URL: only Bull Board's file server answers these (and it stays in its folder).
  const route = req.routeOptions.url ?? '';
  return route.startsWith(`${BOARD_PATH}/static/`) || route.startsWith(`${BOARD_READONLY_PATH}/static/`);
}

/**
 * Whether a request is a page the person navigates to (the only kind redirected to the login page). Browsers say
 * so in `Sec-Fetch-Mode`; an image, script, fetch or prefetch without a session is answered 401 instead, so that
 * nothing the browser loads on its own lands on the login page. Clients that send no such header (curl, old
 * browsers) are treated as navigating.
 */
export function isNavigation(req: FastifyRequest): boolean {
  const mode = req.headers['sec-fetch-mode'];
  return mode === undefined || mode === 'navigate';
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

  // Parallel requests with one credential share one check: a script's burst is one login, not a burst of guesses.
  const checking = new Map<string, Promise<Identity>>();

  function fromBasic(req: FastifyRequest, header: string): Promise<Identity> {
    const cacheKey = createHash('sha256').update(header).digest('hex');
    // Per client too: each client's own limit decides its answer.
    const flight = `${cacheKey}\n${clientIp(req)}`;
    const running = checking.get(flight);
    if (running) return running;
    const check = checkBasic(req, header, cacheKey).finally(() => checking.delete(flight));
    checking.set(flight, check);
    return check;
  }

  async function checkBasic(req: FastifyRequest, header: string, cacheKey: string): Promise<Identity> {
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const name = colon >= 0 ? decoded.slice(0, colon) : decoded;
    const password = colon >= 0 ? decoded.slice(colon + 1) : '';
    const attempt = { user: name, ip: clientIp(req) };
    const hit = basicCache.get(cacheKey);
    if (hit && hit.until > Date.now() && ctx.users.get(hit.identity.user)) {
      // The cache saves the password check, never the limit: while this client is refused, so is its credential.
      const wait = await ctx.limiter.blockedFor(attempt);
      if (wait > 0) throw loginRateLimited(wait);
      return hit.identity;
    }
    // Counted before the password is checked, so parallel guesses cannot all pass the limit.
    const reservation = await ctx.limiter.reserve(attempt);
    if (!reservation.ok) {
      req.log.warn({ user: name, ip: attempt.ip, via: 'basic' }, 'auth.login_rate_limited');
      throw loginRateLimited(reservation.retryAfterSeconds);
    }
    const user = await ctx.users.verify(name, password);
    if (!user) {
      req.log.warn({ user: name, ip: attempt.ip, via: 'basic' }, 'auth.login_failed');
      throw invalidCredentials();
    }
    await releaseQuietly(req, reservation.release);
    const identity: Identity = { user: user.name, role: user.role, via: 'basic' };
    if (basicCache.size > 1000) basicCache.clear();
    basicCache.set(cacheKey, { identity, until: Date.now() + BASIC_CACHE_MS });
    return identity;
  }

  async function identify(req: FastifyRequest, reply: FastifyReply, mayCreate: boolean): Promise<Identity | undefined> {
    const auth = req.headers.authorization;
    if (!ctx.authDisabled && auth?.toLowerCase().startsWith('basic ')) return fromBasic(req, auth);
    if (ctx.authDisabled) {
      // No login, so no session in Redis: CSRF tokens are bound to a signed id in the cookie instead.
      const id = ctx.sessions.unstoredId(req.cookies[SESSION_COOKIE]);
      if (id) return { user: LOCAL_USER, role: 'operator', via: 'auth-disabled', sessionId: id };
      if (!mayCreate) return undefined;
      const minted = ctx.sessions.mintUnstored();
      setSessionCookies(ctx, reply, minted.cookie, minted.csrfToken);
      return { user: LOCAL_USER, role: 'operator', via: 'auth-disabled', sessionId: minted.id };
    }
    const session = await ctx.sessions.resolve(req.cookies[SESSION_COOKIE]);
    if (!session) return undefined;
    // The role comes from today's config: a removed user's sessions end, a changed role applies at once.
    const user = ctx.users.get(session.user);
    return user ? { user: user.name, role: user.role, via: 'session', sessionId: session.id } : undefined;
  }

  app.decorateRequest('identity', undefined);

  app.addHook('onRequest', async (req, reply) => {
    const cfg = req.routeOptions.config ?? {};
    // Files are the same for everyone: no identity, no Redis.
    if (SAFE_METHODS.has(req.method) && isPublicAsset(req)) return;
    try {
      if (ctx.redisLost()) {
        // The login page and the health check answer without Redis; anything else would only wait to fail.
        if (cfg.public && SAFE_METHODS.has(req.method)) return;
        throw redisUnavailable();
      }
      // Health checks and scrapes must not fail on a bad Basic header (nor on Redis, for the login page).
      req.identity = cfg.public
        ? await identify(req, reply, req.url.startsWith('/login')).catch(() => undefined)
        : await identify(req, reply, true);
    } catch (err) {
      // A person on a page gets a page (Redis down, say); everything else the error as JSON.
      if (SAFE_METHODS.has(req.method) && !isApiRequest(req) && isNavigation(req))
        return sendErrorPage(ctx, req, reply, err);
      return sendJsonError(reply, err);
    }
    if (cfg.public) return;
    const id = req.identity;
    if (!id) {
      if (SAFE_METHODS.has(req.method) && !isApiRequest(req) && isNavigation(req)) {
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

/** Gives a reservation back; a failure only leaves the attempt counted (the limit errs on the safe side). */
export async function releaseQuietly(req: FastifyRequest, release: () => Promise<void>): Promise<void> {
  try {
    await release();
  } catch (err) {
    req.log.warn({ err }, 'auth.login_release_failed');
  }
}
