import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { type AuditAction, deadLetterQueueName, isDeadLetterQueue, letterIdFor } from '@bullpen/jobs';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CSRF_COOKIE } from './auth.ts';
import { BOARD_PATH, BOARD_READONLY_PATH, type DashboardContext } from './context.ts';
import { actionDisabled, forbidden } from './errors.ts';
import { escapeHtml } from './html.ts';
import { queueDataJsonSchema } from './job-schema.ts';
import { AUTH_OFF_TEXT } from './layout.ts';
import { isApiRequest, sendJsonError } from './reply-error.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

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
      }),
      // Letters are read-only here: they are replayed, edited and discarded (with an audit entry) at /dead-letters.
      new BullMQAdapter(admin.queues.dead(queue), {
        readOnlyMode: true,
        allowRetries: false,
        displayName: deadLetterQueueName(queue),
        description: `Dead letters of ${queue}: replay, edit or discard them under Dead letters (/dead-letters)`,
      }),
    ];
  });
}

function injectIntoPage(page: string, ctx: DashboardContext): string {
  if (!ctx.authDisabled) return page;
  const banner = `<div data-testid="auth-off-banner" role="alert" style="position:fixed;left:0;right:0;bottom:0;z-index:2147483647;background:#b42318;color:#fff;padding:.5rem 1rem;font:600 14px system-ui,sans-serif;text-align:center">${escapeHtml(AUTH_OFF_TEXT)}</div>`;
  return page.replace(/<body([^>]*)>/, `<body$1>${banner}`);
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
        boardTitle: readOnly ? 'Bullpen (read-only)' : 'Bullpen',
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
          return injectIntoPage(payload, ctx);
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
      if (!ok) detail.status = reply.statusCode;
      await ctx.admin.audit.append({
        actor: id.user,
        action,
        ids,
        ...(params.queueName ? { queue: params.queueName } : {}),
        outcome: ok ? 'ok' : 'failed',
        detail,
      });
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
