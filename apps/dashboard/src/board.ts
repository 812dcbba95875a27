import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import {
  type AuditAction,
  deadLetterQueueName,
  isDeadLetterQueue,
  isRedisUnavailable,
  letterIdFor,
} from '@bullpen/jobs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ICON_URL, STYLESHEET_URL } from './assets.ts';
import { CSRF_COOKIE } from './auth.ts';
import { BOARD_PATH, BOARD_READONLY_PATH, type DashboardContext } from './context.ts';
import { actionDisabled, forbidden } from './errors.ts';
import { queueDataJsonSchema } from './job-schema.ts';
import { authOffBanner, bar } from './layout.ts';
import { describeError, isApiRequest, sendJsonError } from './reply-error.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The policy of Bull Board's pages. Its client is a prebuilt React bundle that needs inline styles: its loading
 * screen is `style=""` attributes and a `<style>` element, and its React runtime inserts `<style>` elements of its
 * own while it runs (tried with `style-src 'self'`: 7 violations on /board, one from lib-react). A nonce in
 * style-src would switch 'unsafe-inline' off, so styles may be inline here, and only on these pages. Scripts stay
 * strict ('self': the bundle has no inline script; its config is an inert JSON block), and nothing is loaded from
 * elsewhere (the web-font link is taken out of the page, see `rewritePage`).
 */
export const BOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'self'",
].join('; ');

/**
 * Bull Board's dead-letter queues: nobody works them by design (letters are replayed, edited and discarded from
 * Bullpen's pages), so they report no worker count at all rather than Bull Board's orange "No workers" warning.
 */
class DeadLetterQueueAdapter extends BullMQAdapter {
  override async getWorkers(): Promise<null> {
    return null;
  }
}

const jobUrl = (base: string, queue: string, id: string) =>
  `${base}/${encodeURIComponent(queue)}/${encodeURIComponent(id)}`;

/**
 * Bull Board's mutating routes that operators may use, and the audit action each is recorded as.
 * The others (add job, edit job data, empty, obliterate, schedulers, rate limits, concurrency, delay,
 * priority) bypass the registry's payload schemas or destroy history, so the dashboard refuses them.
 */
const ALLOWED_ACTIONS: Record<string, AuditAction> = {
  'PUT /api/queues/pause': 'pause',
  'PUT /api/queues/resume': 'resume',
  'PUT /api/queues/:queueName/pause': 'pause',
  'PUT /api/queues/:queueName/resume': 'resume',
  'PUT /api/queues/:queueName/retry/:queueStatus': 'retry',
  'PUT /api/queues/:queueName/promote': 'promote',
  'PUT /api/queues/:queueName/clean/:queueStatus': 'clean',
  'PUT /api/queues/:queueName/:jobId/retry': 'retry',
  'PUT /api/queues/:queueName/:jobId/clean': 'remove',
  'PUT /api/queues/:queueName/:jobId/promote': 'promote',
};

/** A route key such as `PUT /api/queues/:queueName/:jobId/retry`, without the board's base path. */
function routeKey(req: FastifyRequest, base: string): string {
  const url = req.routeOptions.url ?? '';
  return `${req.method} ${url.startsWith(base) ? url.slice(base.length) : url}`;
}

function boardAdapters(ctx: DashboardContext, readOnly: boolean) {
  const { registry, admin } = ctx;
  return registry.queues.flatMap((queue) => {
    const jobs = registry.jobsOf(queue);
    const schema = queueDataJsonSchema(jobs);
    return [
      new BullMQAdapter(admin.queues.get(queue), {
        readOnlyMode: readOnly,
        allowRetries: !readOnly,
        displayName: queue,
        description: jobs.map((j) => `${j.name}${j.description ? `: ${j.description}` : ''}`).join(' · '),
        ...(schema ? { jobDataSchema: schema } : {}),
        // Each job links to Bullpen's page of it: its payload beside the schema it must fit.
        externalJobUrl: (job) => ({ href: jobUrl('/jobs', queue, String(job.id)), displayText: 'Payload and schema' }),
      }),
      // Letters are read-only here: they are replayed, edited and discarded (with an audit entry) at /dead-letters.
      new DeadLetterQueueAdapter(admin.queues.dead(queue), {
        readOnlyMode: true,
        allowRetries: false,
        displayName: deadLetterQueueName(queue),
        description: `Dead letters of ${queue}. Nobody works this queue by design: open a letter's step timeline, replay, edit or discard it under Dead letters (/dead-letters)`,
        externalJobUrl: (job) => ({
          href: jobUrl('/dead-letters', queue, String(job.id)),
          displayText: 'Step timeline and replay',
        }),
      }),
    ];
  });
}

/**
 * Bull Board's page, made one of ours: Bullpen's bar on top (Bull Board lays itself out under it, see `uiConfig.
 * environment`), our stylesheet, the auth-off banner when it applies, and no web fonts from the internet (the
 * dashboard must not call out, and offline they only fail: its fonts fall back to the system's, as ours do).
 */
function rewritePage(page: string, ctx: DashboardContext, req: FastifyRequest): string {
  const top = `${bar(ctx, req, { fixed: true }).value}${ctx.authDisabled ? authOffBanner(true).value : ''}`;
  return page
    .replace(/<link[^>]*href="https:\/\/fonts\.(googleapis|gstatic)\.com[^>]*>\s*/g, '')
    .replace('</head>', `<link rel="stylesheet" href="${STYLESHEET_URL}"></head>`)
    .replace(/<body([^>]*)>/, `<body$1>${top}`);
}

/**
 * Bull Board answers its own errors with 500; one that is Redis being unavailable becomes our 503 with a code, as
 * everywhere else in the dashboard.
 */
function redisErrorsAre503(scope: FastifyInstance) {
  const failures = new WeakMap<FastifyRequest, unknown>();
  scope.addHook('onError', async (req, _reply, err) => {
    if (isRedisUnavailable(err)) failures.set(req, err);
  });
  scope.addHook('onSend', async (req, reply: FastifyReply, payload) => {
    const err = failures.get(req);
    if (err === undefined) return payload;
    failures.delete(req);
    const d = describeError(err, String(req.id));
    req.log.warn({ err }, 'request.redis_unavailable');
    reply.code(d.status).headers(d.headers).type('application/json; charset=utf-8');
    return JSON.stringify(d.body);
  });
}

/** Registers one Bull Board instance under `base`. */
async function registerBoard(app: FastifyInstance, ctx: DashboardContext, base: string, readOnly: boolean) {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(base);
  createBullBoard({
    queues: boardAdapters(ctx, readOnly),
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: readOnly ? 'Queues (read-only)' : 'Queues',
        boardLogo: { path: ICON_URL, width: 20, height: 20 },
        favIcon: { default: ICON_URL, alternative: '/favicon.ico' },
        // Bull Board's environment strip reserves 1.5 × 1.75rem above its header, where Bullpen's bar sits.
        environment: { label: 'Bullpen', color: '#151a21', textColor: '#151a21', fontSize: '1.75rem' },
        hideDocsLink: true,
        showWorkers: true,
        showMetrics: true,
        miscLinks: [
          { text: 'Dead letters', url: '/dead-letters' },
          { text: 'Audit log', url: '/audit' },
          { text: 'Search', url: '/search' },
          ...(ctx.authDisabled ? [] : [{ text: 'Log out', url: '/logout' }]),
        ],
      },
    },
  });

  await app.register(async (scope) => {
    const retryTargets = new WeakMap<FastifyRequest, string[]>();
    // First, so that the hooks below see the 503.
    redisErrorsAre503(scope);

    scope.addHook('onRequest', async (req, reply) => {
      const id = req.identity;
      if (!id) return; // the root hook has answered already
      if (SAFE_METHODS.has(req.method)) {
        // A viewer who follows an operator's link lands on the same page of the read-only board.
        if (!readOnly && id.role !== 'operator' && !isApiRequest(req)) {
          return reply.redirect(BOARD_READONLY_PATH + req.url.slice(base.length), 302);
        }
        return;
      }
      if (readOnly || id.role !== 'operator')
        return sendJsonError(reply, forbidden('The read-only board changes nothing'));
      if (!ALLOWED_ACTIONS[routeKey(req, base)])
        return sendJsonError(reply, actionDisabled(`${req.method} ${req.url.split('?')[0]}`));
    });

    // Before a "retry all", note which jobs it retries: their dead letters go, and the audit entry names them.
    scope.addHook('preHandler', async (req) => {
      if (readOnly || ALLOWED_ACTIONS[routeKey(req, base)] !== 'retry') return;
      const { queueName, jobId, queueStatus } = req.params as Record<string, string>;
      if (!queueName || isDeadLetterQueue(queueName) || !ctx.registry.queues.includes(queueName)) return;
      if (jobId) retryTargets.set(req, [jobId]);
      else if (queueStatus === 'failed' || queueStatus === 'completed') {
        const jobs = await ctx.admin.queues.get(queueName).getJobs([queueStatus], 0, 9999);
        retryTargets.set(
          req,
          jobs.filter(Boolean).map((j) => j.id!),
        );
      }
    });

    scope.addHook('onSend', async (req, reply, payload) => {
      const id = req.identity;
      if (SAFE_METHODS.has(req.method)) {
        if (typeof payload === 'string' && String(reply.getHeader('content-type') ?? '').startsWith('text/html')) {
          if (id?.sessionId) {
            const token = ctx.sessions.csrfToken(id.sessionId);
            if (req.cookies[CSRF_COOKIE] !== token) {
              reply.setCookie(CSRF_COOKIE, token, {
                path: '/',
                sameSite: 'strict',
                secure: ctx.config.DASHBOARD_COOKIE_SECURE,
                maxAge: ctx.sessions.ttlSeconds,
              });
            }
          }
          reply.header('content-security-policy', BOARD_CSP);
          return rewritePage(payload, ctx, req);
        }
        return payload;
      }
      const action = ALLOWED_ACTIONS[routeKey(req, base)];
      if (readOnly || !action || !id || reply.statusCode === 401 || reply.statusCode === 403) return payload;
      const params = req.params as Record<string, string>;
      const ok = reply.statusCode < 400;
      const ids = retryTargets.get(req) ?? (params.jobId ? [params.jobId] : []);
      const detail: Record<string, unknown> = {
        via: 'bull-board',
        ...(params.queueStatus ? { status: params.queueStatus } : {}),
      };
      if (!ok) detail.status = reply.statusCode;
      const entry = {
        actor: id.user,
        action,
        ids,
        ...(params.queueName ? { queue: params.queueName } : {}),
        outcome: ok ? ('ok' as const) : ('failed' as const),
        detail,
      };
      try {
        if (ok && action === 'retry' && params.queueName && ids.length > 0) {
          // The job runs again: its dead letter would otherwise be replayed later as a duplicate.
          const dead = ctx.admin.queues.get(deadLetterQueueName(params.queueName));
          const removed: string[] = [];
          for (const jobId of ids) {
            const letter = await dead.getJob(letterIdFor(jobId));
            if (letter) {
              await letter.remove();
              removed.push(jobId);
            }
          }
          detail.removedDeadLetters = removed;
        }
        await ctx.admin.audit.append(entry);
      } catch (err) {
        // The action's own answer stands (it happened, or it failed); what could not be recorded is logged in full.
        req.log.error({ err, entry }, 'dashboard.audit_write_failed');
      }
      req.log.info({ actor: id.user, action, queue: params.queueName, ids: ids.length, ok }, 'dashboard.board_action');
      return payload;
    });

    await scope.register(serverAdapter.registerPlugin(), { prefix: base });
  });
}

export async function registerBoards(app: FastifyInstance, ctx: DashboardContext) {
  await registerBoard(app, ctx, BOARD_PATH, false);
  await registerBoard(app, ctx, BOARD_READONLY_PATH, true);
}
