import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  clearSessionCookies,
  clientIp,
  DEVICE_COOKIE,
  LOGIN_COOKIE,
  releaseQuietly,
  SESSION_COOKIE,
  setSessionCookies,
} from '../auth.ts';
import { boardPathFor, type DashboardContext } from '../context.ts';
import { csrfInvalid, invalidCredentials, loginRateLimited, requestInvalid } from '../errors.ts';
import { html } from '../html.ts';
import { csrfField, sendPage } from '../layout.ts';
import { describeError } from '../reply-error.ts';
import {
  checkDeviceToken,
  checkLoginFormToken,
  deviceToken,
  LOGIN_TOKEN_SECONDS,
  loginFormToken,
} from '../sessions.ts';

/** How long a browser counts as one a user has logged in from (its limiter budget of its own). */
const DEVICE_SECONDS = 30 * 24 * 3600;

const loginBody = z.object({
  username: z.string().max(200).default(''),
  password: z.string().max(1000).default(''),
  next: z.string().max(2000).optional(),
  _login: z.string().optional(),
});

/** Only a path on this site: never `//host` or `/\host`, which browsers treat as another origin. */
export function safeNext(next: unknown): string | undefined {
  return typeof next === 'string' && /^\/(?![/\\])[^\s\\]*$/.test(next) && !next.startsWith('/login')
    ? next
    : undefined;
}

function isForm(req: FastifyRequest) {
  return (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
}

export function loginRoutes(app: FastifyInstance, ctx: DashboardContext) {
  function loginPage(
    req: FastifyRequest,
    reply: FastifyReply,
    opts: { status?: number; message?: string; username?: string; next?: string } = {},
  ) {
    // The browser's token is kept while it is young: whatever else it loads meanwhile, an open form stays valid.
    const token = loginFormToken(ctx.secret, req.cookies[LOGIN_COOKIE]);
    if (token !== req.cookies[LOGIN_COOKIE]) {
      reply.setCookie(LOGIN_COOKIE, token, {
        path: '/login',
        httpOnly: true,
        sameSite: 'strict',
        secure: ctx.config.DASHBOARD_COOKIE_SECURE,
        maxAge: LOGIN_TOKEN_SECONDS,
      });
    }
    const body = html`<div class="card bp-login-card"><h1>Log in</h1>
      ${opts.message ? html`<div class="notice error" role="alert" data-testid="login-error">${opts.message}</div>` : ''}
      <form method="post" action="/login" class="bp-login">
        <input type="hidden" name="_login" value="${token}">
        <input type="hidden" name="next" value="${opts.next ?? ''}">
        <label>User <input type="text" name="username" autocomplete="username" required value="${opts.username ?? ''}"></label>
        <label>Password <input type="password" name="password" autocomplete="current-password" required></label>
        <div><button class="primary" type="submit">Log in</button></div>
      </form></div>`;
    return sendPage(ctx, req, reply, { title: 'Log in', body, status: opts.status ?? 200 });
  }

  app.get('/login', { config: { public: true } }, async (req, reply) => {
    const next = safeNext((req.query as { next?: string }).next);
    if (req.identity) return reply.redirect(next ?? boardPathFor(req.identity), 302);
    return loginPage(req, reply, next ? { next } : {});
  });

  app.post('/login', { config: { public: true, skipCsrf: true } }, async (req, reply) => {
    const form = isForm(req);
    const parsed = loginBody.safeParse(req.body ?? {});
    const fail = (err: unknown, username?: string) => {
      const d = describeError(err, String(req.id));
      if (d.status >= 500) req.log.error({ err }, 'auth.login_error');
      if (!form) return reply.code(d.status).headers(d.headers).send(d.body);
      reply.headers(d.headers);
      const next = safeNext(parsed.data?.next);
      return loginPage(req, reply, {
        status: d.status,
        message: d.body.error.message,
        ...(username ? { username } : {}),
        ...(next ? { next } : {}),
      });
    };
    if (!parsed.success) return fail(requestInvalid('username and password are required'));
    const { username, password } = parsed.data;
    // A browser form could be posted from another site (login CSRF): it must carry the token of our own page.
    const sameOrigin = req.headers['sec-fetch-site'] === 'same-origin';
    if (form && !checkLoginFormToken(ctx.secret, req.cookies[LOGIN_COOKIE], parsed.data._login, sameOrigin)) {
      req.log.warn({ user: username }, 'auth.login_csrf_refused');
      return fail(csrfInvalid());
    }
    if (ctx.authDisabled) {
      const id = req.identity!;
      return form
        ? reply.redirect(safeNext(parsed.data.next) ?? boardPathFor(id), 303)
        : { user: id.user, role: id.role, csrfToken: ctx.sessions.csrfToken(id.sessionId!), authDisabled: true };
    }
    const ip = clientIp(req);
    try {
      // A browser this user has logged in from has a budget of its own: nobody else's failures lock it out.
      const known = ctx.users.get(username);
      const device = known ? checkDeviceToken(ctx.secret, req.cookies[DEVICE_COOKIE], known) : undefined;
      // Counted before the password is checked, so parallel guesses cannot all pass the limit.
      const reservation = await ctx.limiter.reserve({ user: username, ip, ...(device ? { device } : {}) });
      if (!reservation.ok) {
        req.log.warn({ user: username, ip, device: !!device }, 'auth.login_rate_limited');
        return fail(loginRateLimited(reservation.retryAfterSeconds), username);
      }
      const user = await ctx.users.verify(username, password);
      if (!user) {
        req.log.warn({ user: username, ip }, 'auth.login_failed');
        return fail(invalidCredentials(), username);
      }
      await releaseQuietly(req, reservation.release);
      await ctx.sessions.destroy(req.cookies[SESSION_COOKIE]);
      const created = await ctx.sessions.create(user.name);
      setSessionCookies(ctx, reply, created.cookie, created.csrfToken);
      reply.setCookie(
        DEVICE_COOKIE,
        device ? String(req.cookies[DEVICE_COOKIE]) : deviceToken(ctx.secret, user.name, user.hash),
        {
          path: '/login',
          httpOnly: true,
          sameSite: 'strict',
          secure: ctx.config.DASHBOARD_COOKIE_SECURE,
          maxAge: DEVICE_SECONDS,
        },
      );
      req.log.info({ user: user.name, role: user.role, ip }, 'auth.logged_in');
      if (form)
        return reply.redirect(
          safeNext(parsed.data.next) ?? boardPathFor({ ...user, user: user.name, via: 'session' }),
          303,
        );
      return { user: user.name, role: user.role, csrfToken: created.csrfToken, expiresAt: created.session.expiresAt };
    } catch (err) {
      // Redis down or full: 503 REDIS_UNAVAILABLE, and the attempt was neither counted nor checked.
      return fail(err, username);
    }
  });

  // A GET that only asks: logging out is a POST with the CSRF token, so no link or image can do it.
  app.get('/logout', async (req, reply) =>
    sendPage(ctx, req, reply, {
      title: 'Log out',
      body: html`<h1>Log out</h1><form method="post" action="/logout">${csrfField(ctx, req)}<button class="primary" type="submit">Log out</button></form>`,
    }),
  );

  app.post('/logout', { config: { allowViewer: true } }, async (req, reply) => {
    await ctx.sessions.destroy(req.cookies[SESSION_COOKIE]);
    clearSessionCookies(ctx, reply);
    req.log.info({ user: req.identity?.user }, 'auth.logged_out');
    return isForm(req) ? reply.redirect('/login', 303) : { loggedOut: true };
  });

  app.get('/api/me', async (req) => {
    const id = req.identity!;
    return {
      user: id.user,
      role: id.role,
      via: id.via,
      ...(id.sessionId ? { csrfToken: ctx.sessions.csrfToken(id.sessionId) } : {}),
      authDisabled: ctx.authDisabled,
    };
  });
}
