import { type Envelope, isCancelledJob, isDeadLetterQueue, type JobDefinition } from '@bullpen/jobs';
import type { FastifyInstance } from 'fastify';
import { BOARD_PATH, boardPathFor, type DashboardContext } from '../context.ts';
import { notFound } from '../errors.ts';
import { html, json } from '../html.ts';
import { payloadJsonSchema } from '../job-schema.ts';
import { csrfField, fmtTime, sendPage } from '../layout.ts';
import { payloadVerdict } from '../payload-verdict.ts';

const PAGE = 50;

export function auditAndSearchPages(app: FastifyInstance, ctx: DashboardContext) {
  const { admin, registry } = ctx;
  const jobs = registry.jobs as Record<string, JobDefinition>;

  app.get('/', async (req, reply) => reply.redirect(boardPathFor(req.identity), 302));

  app.get('/audit', async (req, reply) => {
    const before = (req.query as { before?: string }).before;
    const entries = await admin.audit.list({ limit: PAGE, ...(before && /^\d+-\d+$/.test(before) ? { before } : {}) });
    const body = html`<h1>Audit log</h1>
      <table data-testid="audit"><thead><tr><th>When</th><th>Who</th><th>Action</th><th>Queue</th><th>Jobs / letters</th><th>Outcome</th><th>Detail</th></tr></thead><tbody>
      ${entries.map(
        (
          e,
        ) => html`<tr data-action="${e.action}"><td>${fmtTime(e.at)}</td><td>${e.actor}</td><td>${e.action}</td><td>${e.queue ?? ''}</td>
          <td>${e.ids.slice(0, 20).join(', ')}${e.ids.length > 20 ? ` … (${e.ids.length} in all)` : ''}</td>
          <td class="${e.outcome === 'ok' ? 'ok' : 'err'}">${e.outcome}</td>
          <td>${e.detail ? html`<details><summary>detail</summary><pre>${json(e.detail)}</pre></details>` : ''}</td></tr>`,
      )}</tbody></table>
      ${entries.length === 0 ? html`<p class="muted">Nothing yet.</p>` : ''}
      ${entries.length === PAGE ? html`<p><a href="/audit?before=${encodeURIComponent(entries.at(-1)!.id)}">Older →</a></p>` : ''}`;
    return sendPage(ctx, req, reply, { title: 'Audit log', body });
  });

  app.get('/search', async (req, reply) => {
    const q = String((req.query as { q?: string }).q ?? '')
      .trim()
      .slice(0, 200);
    const results = q ? await admin.findJobs(q) : [];
    const board = boardPathFor(req.identity);
    const body = html`<h1>Search</h1>
      <form method="get" action="/search"><input type="search" name="q" value="${q}" placeholder="job id, idempotency key or upload id" size="50" autofocus> <button type="submit">Find</button></form>
      ${
        q
          ? html`<p class="muted">${results.length} found for <code>${q}</code>.</p>
      <table data-testid="results"><thead><tr><th>Queue</th><th>Id</th><th>Job</th><th>State</th><th>Idempotency key</th><th>Request id</th><th>Created</th><th>Failure</th></tr></thead><tbody>
      ${results.map(
        (r) => html`<tr><td>${r.queue}</td>
          <td>${r.deadLetter ? html`<a href="/dead-letters/${encodeURIComponent(r.queue.replace(/\.dead$/, ''))}/${encodeURIComponent(r.id)}">${r.id}</a> (dead letter)` : html`<a href="/jobs/${encodeURIComponent(r.queue)}/${encodeURIComponent(r.id)}">${r.id}</a> · <a href="${board}/queue/${encodeURIComponent(r.queue)}/${encodeURIComponent(r.id)}">in Bull Board</a>`}</td>
          <td>${r.name}</td><td>${r.state}</td><td>${r.idempotencyKey ?? ''}</td><td>${r.requestId ?? ''}</td><td>${fmtTime(r.timestamp)}</td><td>${r.failedReason ?? ''}</td></tr>`,
      )}</tbody></table>`
          : ''
      }`;
    return sendPage(ctx, req, reply, { title: 'Search', body });
  });

  // A job's data next to its schema: Bull Board shows the raw data but not what it should look like.
  app.get('/jobs/:queue/:id', async (req, reply) => {
    const { queue, id } = req.params as { queue: string; id: string };
    if (!registry.queues.includes(queue) || isDeadLetterQueue(queue)) throw notFound('No such queue');
    const job = await admin.queues.get(queue).getJob(id);
    if (!job) throw notFound('No such job in this queue');
    const data = (job.data ?? {}) as Partial<Envelope>;
    const def = jobs[job.name];
    const bullState = await job.getState();
    const state = bullState === 'failed' && isCancelledJob(job) ? 'cancelled' : bullState;
    // An operator may cancel what has not finished: removed if it waits, stopped wherever it runs.
    const cancellable = req.identity?.role === 'operator' && !['completed', 'failed', 'cancelled'].includes(state);
    const body = html`<h1>Job <code>${job.id}</code></h1>
      <p><a href="${req.identity?.role === 'operator' ? BOARD_PATH : boardPathFor(req.identity)}/queue/${encodeURIComponent(queue)}/${encodeURIComponent(id)}">Open in Bull Board</a></p>
      ${cancellable ? html`<form method="post" action="/jobs/${encodeURIComponent(queue)}/${encodeURIComponent(id)}/cancel" class="actions">${csrfField(ctx, req)}<button type="submit" class="danger" data-action="cancel-job">Cancel this job</button></form>` : ''}
      <table><tbody><tr><th>Job</th><td>${job.name}</td></tr><tr><th>Queue</th><td>${queue}</td></tr><tr><th>State</th><td data-testid="job-state">${state}</td></tr>
      <tr><th>Attempts made</th><td>${job.attemptsMade}</td></tr><tr><th>Created</th><td>${fmtTime(job.timestamp)}</td></tr>
      <tr><th>Finished</th><td>${job.finishedOn ? fmtTime(job.finishedOn) : ''}</td></tr><tr><th>Failure</th><td>${job.failedReason ?? ''}</td></tr>
      <tr><th>Replay of</th><td>${data.meta?.replayOf ?? ''}</td></tr>
      <tr><th>Payload fits today's schema</th><td data-testid="schema-check">${payloadVerdict(def, job.name, data.payload, data.meta?.v)}</td></tr>
      </tbody></table>
      <h2>Payload</h2><pre>${json(data.payload)}</pre><h2>Meta</h2><pre>${json(data.meta ?? {})}</pre>
      ${def ? html`<h2>Payload schema (${def.name})</h2><pre>${json(payloadJsonSchema(def))}</pre>` : ''}`;
    return sendPage(ctx, req, reply, { title: `Job ${id}`, body });
  });
}
