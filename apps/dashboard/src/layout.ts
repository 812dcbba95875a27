import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { boardPathFor, type DashboardContext } from './context.ts';
import { html, raw, type SafeHtml } from './html.ts';

const STYLE = `
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;color:#1d2430;background:#f5f6f8}
header{display:flex;gap:1rem;align-items:center;padding:.6rem 1.2rem;background:#151a21;color:#e6e9ee}
header a{color:#cfd6e0;text-decoration:none}header a:hover{color:#fff}header .who{margin-left:auto;color:#9aa4b2}
header form{display:inline}header button{background:none;border:1px solid #566;color:#cfd6e0;border-radius:4px;cursor:pointer}
main{padding:1.2rem;max-width:1300px}h1{font-size:1.35rem;margin:.2rem 0 1rem}h2{font-size:1.1rem}
table{border-collapse:collapse;width:100%;background:#fff;margin:.5rem 0 1rem}th,td{border:1px solid #dde1e7;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#eef0f3}pre{background:#fff;border:1px solid #dde1e7;padding:.6rem;overflow:auto;max-height:28rem;white-space:pre-wrap;word-break:break-word}
textarea{width:100%;font:13px/1.4 ui-monospace,monospace}button,.button{padding:.3rem .7rem;border-radius:4px;border:1px solid #8895a7;background:#fff;cursor:pointer;font:inherit;color:#1d2430;text-decoration:none;display:inline-block}
button.primary{background:#2557d6;color:#fff;border-color:#2557d6}button.danger{background:#b42318;color:#fff;border-color:#b42318}
.actions form{display:inline-block;margin:0 .25rem .25rem 0}.muted{color:#667085}.err{color:#b42318}.ok{color:#067647}
.banner-auth-off{background:#b42318;color:#fff;padding:.5rem 1.2rem;font-weight:600}.notice{padding:.6rem;border-radius:4px;margin:.5rem 0}
.notice.error{background:#fef3f2;border:1px solid #fda29b}.notice.info{background:#eff8ff;border:1px solid #84caff}
code{font-family:ui-monospace,monospace;font-size:.92em}input[type=text],input[type=password],input[type=search],select{padding:.3rem;font:inherit}
`;

export const AUTH_OFF_TEXT =
  'Authentication is OFF (DASHBOARD_AUTH_DISABLED=true): anyone who can reach this dashboard can act on the queues. Local development only.';

export function authOffBanner(): SafeHtml {
  return html`<div class="banner-auth-off" role="alert" data-testid="auth-off-banner">${AUTH_OFF_TEXT}</div>`;
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
  const id = req.identity;
  const nav = id
    ? html`<header>
        <strong>Bullpen</strong>
        <a href="${boardPathFor(id)}">Queues</a>
        <a href="/dead-letters">Dead letters</a>
        <a href="/audit">Audit log</a>
        <a href="/search">Search</a>
        <span class="who" data-testid="who">${id.user} (${id.role})</span>
        ${id.via === 'session' ? html`<form method="post" action="/logout">${csrfField(ctx, req)}<button type="submit">Log out</button></form>` : ''}
      </header>`
    : html`<header><strong>Bullpen</strong></header>`;
  const page = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>${opts.title} · Bullpen</title><style nonce="${nonce}">${raw(STYLE)}</style></head>
<body>${ctx.authDisabled ? authOffBanner() : ''}${nav}<main>${opts.body}</main>
${opts.script ? html`<script nonce="${nonce}">${raw(opts.script)}</script>` : ''}</body></html>`;
  return reply
    .code(opts.status ?? 200)
    .header(
      'content-security-policy',
      `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'`,
    )
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(page.value);
}

export const fmtTime = (iso: string | number | undefined) => {
  if (iso === undefined || iso === '') return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? String(iso)
    : d
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z');
};
