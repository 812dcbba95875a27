import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ICON_URL, STYLESHEET_URL } from './assets.ts';
import { boardPathFor, type DashboardContext } from './context.ts';
import { html, raw, type SafeHtml } from './html.ts';
import { describeError } from './reply-error.ts';

export const AUTH_OFF_TEXT =
  'Authentication is OFF (DASHBOARD_AUTH_DISABLED=true): anyone who can reach this dashboard can act on the queues. Local development only.';

export function authOffBanner(fixed = false): SafeHtml {
  return html`<div class="bp-auth-off${fixed ? ' bp-auth-off--fixed' : ''}" role="alert" data-testid="auth-off-banner">${AUTH_OFF_TEXT}</div>`;
}

/** Which section of the bar a path belongs to. */
function section(path: string): string | undefined {
  if (path.startsWith('/board') || path.startsWith('/jobs/')) return 'queues';
  if (path.startsWith('/dead-letters')) return 'dead-letters';
  if (path.startsWith('/audit')) return 'audit';
  if (path.startsWith('/search')) return 'search';
  if (path.startsWith('/schedules')) return 'schedules';
  return undefined;
}

/**
 * The bar at the top of every page, Bull Board's included: the sections one click apart, who is logged in, and
 * logging out. `fixed` on Bull Board's pages, which lay themselves out under it.
 */
export function bar(ctx: DashboardContext, req: FastifyRequest, opts: { fixed?: boolean } = {}): SafeHtml {
  const id = req.identity;
  const current = section(req.url.split('?', 1)[0]!);
  const link = (key: string, href: string, text: string) =>
    html`<a href="${href}" data-nav="${key}"${current === key ? raw(' aria-current="page"') : ''}>${text}</a>`;
  return html`<header class="bp-bar${opts.fixed ? ' bp-bar--fixed' : ''}" data-testid="bullpen-bar">
    <a class="bp-brand" href="${id ? boardPathFor(id) : '/login'}"><img src="${ICON_URL}" alt="">Bullpen</a>
    ${
      id
        ? html`<nav aria-label="Bullpen">${link('queues', boardPathFor(id), 'Queues')}${link('dead-letters', '/dead-letters', 'Dead letters')}${link('audit', '/audit', 'Audit log')}${link('schedules', '/schedules', 'Schedules')}${link('search', '/search', 'Search')}</nav>
    <span class="bp-who" data-testid="who"><strong>${id.user}</strong> · ${id.role}${id.via === 'auth-disabled' ? ' (auth off)' : ''}</span>
    ${id.via === 'session' ? html`<form method="post" action="/logout">${csrfField(ctx, req)}<button type="submit" data-action="logout">Log out</button></form>` : ''}`
        : ''
    }
  </header>`;
}

/** The policy of Bullpen's own pages: nothing inline but the scripts carrying this response's nonce. */
export function pageCsp(nonce: string): string {
  return [
    "default-src 'none'",
    "style-src 'self'",
    `script-src 'nonce-${nonce}'`,
    "img-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/** The CSRF token of the request's session, for forms. */
export function csrfToken(ctx: DashboardContext, req: FastifyRequest): string {
  const id = req.identity;
  return id?.sessionId ? ctx.sessions.csrfToken(id.sessionId) : '';
}

export function csrfField(ctx: DashboardContext, req: FastifyRequest): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${csrfToken(ctx, req)}">`;
}

/** Sends a full page of our own (dead letters, audit, search, login), with a strict CSP. */
export function sendPage(
  ctx: DashboardContext,
  req: FastifyRequest,
  reply: FastifyReply,
  opts: { title: string; body: SafeHtml; status?: number; script?: string },
) {
  const nonce = randomBytes(16).toString('base64');
  const page = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>${opts.title} · Bullpen</title>
<link rel="icon" href="${ICON_URL}" type="image/svg+xml"><link rel="stylesheet" href="${STYLESHEET_URL}"></head>
<body class="bp-page">${ctx.authDisabled ? authOffBanner() : ''}${bar(ctx, req)}<main>${opts.body}</main>
${opts.script ? html`<script nonce="${nonce}">${raw(opts.script)}</script>` : ''}</body></html>`;
  return reply
    .code(opts.status ?? 200)
    .header('content-security-policy', pageCsp(nonce))
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(page.value);
}

/** An error as a page: its code, message and request id (the status and headers of `describeError`). */
export function sendErrorPage(ctx: DashboardContext, req: FastifyRequest, reply: FastifyReply, err: unknown) {
  const d = describeError(err, String(req.id));
  if (d.body.error.code === 'REDIS_UNAVAILABLE') req.log.warn({ err }, 'request.redis_unavailable');
  else if (d.status >= 500) req.log.error({ err }, 'request.failed');
  reply.headers(d.headers);
  const body = html`<h1>${d.status === 404 ? 'Not found' : d.status === 503 ? 'Unavailable' : 'Something is wrong'}</h1>
      <div class="notice error" role="alert"><code>${d.body.error.code}</code>: ${d.body.error.message}</div>
      <p class="muted">Request id: ${d.body.error.requestId}</p>`;
  return sendPage(ctx, req, reply, { title: 'Error', body, status: d.status });
}

/** A time for people, in UTC; `ms` keeps the milliseconds (a timeline's events are often within one second). */
export const fmtTime = (iso: string | number | undefined, ms = false) => {
  if (iso === undefined || iso === '') return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const s = d.toISOString().replace('T', ' ');
  return ms ? s : s.replace(/\.\d+Z$/, 'Z');
};
