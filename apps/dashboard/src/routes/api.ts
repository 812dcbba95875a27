import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { DashboardContext } from '../context.ts';
import { requestInvalid } from '../errors.ts';
import { filterFromQuery, groupView, letterView, sourceQueue, targetSchema, toLetterTarget } from '../targets.ts';

function parse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw requestInvalid(z.prettifyError(r.error));
  return r.data;
}

const replayBody = z.object({ target: targetSchema, dryRun: z.boolean().default(false) }).strict();
const discardBody = z.object({ target: targetSchema }).strict();
const payloadBody = z.object({ payload: z.unknown() }).strict();
const auditQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  before: z.string().max(40).optional(),
});

/** The HTTP API for scripts: the same actions as the pages, under the same auth, roles and audit. */
export function apiRoutes(app: FastifyInstance, ctx: DashboardContext) {
  const { admin, registry } = ctx;
  const actor = (req: { identity?: { user: string } | undefined }) => req.identity!.user;

  app.get('/api/dead-letters', async (req) => {
    const letters = await admin.listDeadLetters(filterFromQuery(registry, req.query as Record<string, unknown>));
    return { letters: letters.map(letterView) };
  });

  app.get('/api/dead-letters/groups', async (req) => {
    const groups = await admin.groupDeadLetters(filterFromQuery(registry, req.query as Record<string, unknown>));
    return { groups: groups.map((g) => groupView(g)) };
  });

  app.get('/api/dead-letters/:queue/:id', async (req) => {
    const { queue, id } = req.params as { queue: string; id: string };
    return { letter: letterView(await admin.getDeadLetter(id, sourceQueue(registry, queue))) };
  });

  // Which steps had finished, where each attempt failed, and what a replay would skip and redo.
  app.get('/api/dead-letters/:queue/:id/timeline', async (req) => {
    const { queue, id } = req.params as { queue: string; id: string };
    return { timeline: await admin.letterTimeline(id, sourceQueue(registry, queue)) };
  });

  app.post('/api/dead-letters/replay', async (req) => {
    const body = parse(replayBody, req.body);
    return admin.replay(toLetterTarget(registry, body.target), { actor: actor(req), dryRun: body.dryRun });
  });

  app.post('/api/dead-letters/discard', async (req) => {
    const body = parse(discardBody, req.body);
    return admin.discardDeadLetters(toLetterTarget(registry, body.target), { actor: actor(req) });
  });

  app.put('/api/dead-letters/:queue/:id/payload', async (req) => {
    const { queue, id } = req.params as { queue: string; id: string };
    const body = parse(payloadBody, req.body);
    const q = sourceQueue(registry, queue);
    const entry = await admin.editDeadLetter(id, body.payload, { actor: actor(req), ...(q ? { queue: q } : {}) });
    return { letter: letterView(entry) };
  });

  app.get('/api/audit', async (req) => {
    const q = parse(auditQuery, req.query);
    const entries = await admin.audit.list({ limit: q.limit, ...(q.before ? { before: q.before } : {}) });
    return { entries, ...(entries.length === q.limit ? { next: entries.at(-1)!.id } : {}) };
  });

  app.get('/api/search', async (req) => {
    const term = String((req.query as { q?: string }).q ?? '').trim();
    if (!term) throw requestInvalid('q is required');
    if (term.length > 200) throw requestInvalid('q is too long');
    return { results: await admin.findJobs(term) };
  });
}
