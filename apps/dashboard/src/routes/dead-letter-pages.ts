import { type DeadLetterEntry, type JobDefinition, JobPayloadInvalidError, type ReplayReport } from '@bullpen/jobs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DashboardContext } from '../context.ts';
import { requestInvalid } from '../errors.ts';
import { html, json, type SafeHtml } from '../html.ts';
import { payloadJsonSchema } from '../job-schema.ts';
import { csrfField, fmtTime, sendPage } from '../layout.ts';
import { filterFromQuery, groupView, sourceQueue, type TargetInput, targetSchema, toLetterTarget } from '../targets.ts';

type Form = Record<string, string | string[] | undefined>;

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
const list = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const truthy = (v: string | string[] | undefined) =>
  ['true', '1', 'on', 'yes'].includes(String(one(v) ?? '').toLowerCase());

/** A target from form fields (`ids` repeated, or filter fields). */
function formTarget(body: Form): TargetInput {
  const t: TargetInput = {};
  const ids = list(body.ids).filter(Boolean);
  if (body.ids !== undefined || truthy(body.selection)) t.ids = ids;
  for (const k of ['queue', 'name', 'fingerprint', 'messageContains'] as const) {
    const v = one(body[k]);
    if (v) t[k] = v;
  }
  if (truthy(body.all)) t.all = true;
  const parsed = targetSchema.safeParse(t);
  if (!parsed.success) throw requestInvalid('malformed selection');
  return parsed.data;
}

/** Hidden fields that carry a target to the next step (dry run → replay, discard → confirm). */
function targetFields(t: TargetInput): SafeHtml {
  return html`${(t.ids ?? []).map((id) => html`<input type="hidden" name="ids" value="${id}">`)}${t.ids ? html`<input type="hidden" name="selection" value="true">` : ''}${(['queue', 'name', 'fingerprint', 'messageContains'] as const).map((k) => (t[k] ? html`<input type="hidden" name="${k}" value="${t[k]}">` : ''))}${t.all ? html`<input type="hidden" name="all" value="true">` : ''}`;
}

function describeTarget(t: TargetInput): string {
  if (t.ids) return `${t.ids.length} selected letter(s)`;
  const parts = [
    t.queue && `queue ${t.queue}`,
    t.name && `job ${t.name}`,
    t.fingerprint && `error group ${t.fingerprint}`,
    t.messageContains && `errors containing "${t.messageContains}"`,
  ].filter(Boolean);
  return parts.length ? `all letters of ${parts.join(', ')}` : 'every letter';
}

const letterUrl = (queue: string, id: string) => `/dead-letters/${encodeURIComponent(queue)}/${encodeURIComponent(id)}`;

export function deadLetterPages(app: FastifyInstance, ctx: DashboardContext) {
  const { admin, registry } = ctx;
  const jobs = registry.jobs as Record<string, JobDefinition>;
  const isOperator = (req: FastifyRequest) => req.identity?.role === 'operator';

  /** Replay (dry run by default) and discard buttons for a target; nothing for viewers. */
  function actionForms(req: FastifyRequest, t: TargetInput, label: string): SafeHtml {
    if (!isOperator(req)) return html``;
    return html`<span class="actions">
      <form method="post" action="/dead-letters/replay">${csrfField(ctx, req)}${targetFields(t)}<input type="hidden" name="dryRun" value="true"><button type="submit" data-action="dry-run">Dry-run replay ${label}</button></form>
      <form method="post" action="/dead-letters/discard">${csrfField(ctx, req)}${targetFields(t)}<button type="submit" class="danger" data-action="discard">Discard ${label}…</button></form>
    </span>`;
  }

  app.get('/dead-letters', async (req, reply) => {
    const query = req.query as Record<string, string>;
    const filter = filterFromQuery(registry, query);
    const groups = (await admin.groupDeadLetters(filter)).map((g) => groupView(g));
    const byName = new Map<string, { queue: string; count: number }>();
    for (const g of groups) {
      const k = `${g.queue}\u0000${g.name}`;
      byName.set(k, { queue: g.queue, count: (byName.get(k)?.count ?? 0) + g.count });
    }
    const body = html`<h1>Dead letters</h1>
      <form method="get" action="/dead-letters" class="actions">
        <select name="queue"><option value="">every queue</option>${registry.queues.map((q) => html`<option value="${q}" ${filter.queue === q ? 'selected' : ''}>${q}</option>`)}</select>
        <select name="name"><option value="">every job</option>${Object.keys(jobs).map((n) => html`<option value="${n}" ${filter.name === n ? 'selected' : ''}>${n}</option>`)}</select>
        <input type="search" name="messageContains" placeholder="error text" value="${filter.messageContains ?? ''}">
        <button type="submit">Filter</button> <a href="/dead-letters/list">All letters</a>
      </form>
      ${groups.length === 0 ? html`<p class="muted" data-testid="no-letters">No dead letters${filter.queue || filter.name || filter.messageContains ? ' match' : ''}.</p>` : ''}
      ${
        groups.length
          ? html`<h2>By error</h2>
      <table data-testid="groups"><thead><tr><th>Job</th><th>Queue</th><th>Letters</th><th>First seen</th><th>Last seen</th><th>Error</th><th></th></tr></thead><tbody>
      ${groups.map(
        (g) => html`<tr data-fingerprint="${g.fingerprint}">
          <td>${g.name}</td><td>${g.queue}</td><td data-testid="group-count">${g.count}</td><td>${fmtTime(g.firstSeen)}</td><td>${fmtTime(g.lastSeen)}</td>
          <td><code>${g.sampleError.code}</code> ${g.sampleError.name}: ${g.sampleError.message}<br><span class="muted">${g.fingerprintText}</span></td>
          <td><a class="button" href="/dead-letters/list?queue=${encodeURIComponent(g.queue)}&amp;name=${encodeURIComponent(g.name)}&amp;fingerprint=${encodeURIComponent(g.fingerprint)}" data-action="open-group">Open group</a>
          ${actionForms(req, { queue: g.queue, name: g.name, fingerprint: g.fingerprint }, 'group')}</td></tr>`,
      )}</tbody></table>
      <h2>By job</h2>
      <table data-testid="by-job"><thead><tr><th>Job</th><th>Queue</th><th>Letters</th><th></th></tr></thead><tbody>
      ${[...byName].map(([k, v]) => {
        const name = k.split('\u0000')[1]!;
        return html`<tr><td>${name}</td><td>${v.queue}</td><td>${v.count}</td><td>
          <a class="button" href="/dead-letters/list?queue=${encodeURIComponent(v.queue)}&amp;name=${encodeURIComponent(name)}">Open</a>
          ${actionForms(req, { queue: v.queue, name }, `all ${name}`)}</td></tr>`;
      })}</tbody></table>`
          : ''
      }`;
    return sendPage(ctx, req, reply, { title: 'Dead letters', body });
  });

  app.get('/dead-letters/list', async (req, reply) => {
    const filter = filterFromQuery(registry, req.query as Record<string, unknown>);
    const letters = await admin.listDeadLetters({ limit: 500, ...filter });
    const op = isOperator(req);
    const t: TargetInput = {};
    if (filter.queue) t.queue = filter.queue;
    if (filter.name) t.name = filter.name;
    if (filter.fingerprint) t.fingerprint = filter.fingerprint;
    if (filter.messageContains) t.messageContains = filter.messageContains;
    const body = html`<h1>Dead letters <span class="muted">(${describeTarget(t)})</span></h1>
      <p><a href="/dead-letters">← Groups</a></p>
      ${letters.length && (t.queue || t.name || t.fingerprint || t.messageContains) ? html`<p>${actionForms(req, t, `all ${letters.length}`)}</p>` : ''}
      <form method="post" action="/dead-letters/replay" id="selection">${op ? csrfField(ctx, req) : ''}
      <input type="hidden" name="selection" value="true"><input type="hidden" name="dryRun" value="true">
      <table data-testid="letters"><thead><tr>${op ? html`<th></th>` : ''}<th>Letter (job id)</th><th>Job</th><th>Queue</th><th>Failed</th><th>Attempts</th><th>Error</th><th>Edits</th></tr></thead><tbody>
      ${letters.map(
        (
          e,
        ) => html`<tr data-letter-id="${e.id}">${op ? html`<td><input type="checkbox" name="ids" value="${e.id}" aria-label="select ${e.id}"></td>` : ''}
          <td><a href="${letterUrl(e.letter.sourceQueue, e.id)}">${e.id}</a></td><td>${e.letter.name}</td><td>${e.letter.sourceQueue}</td>
          <td>${fmtTime(e.letter.failedAt)}</td><td>${e.letter.attempts.length}</td><td><code>${e.letter.code}</code> ${e.letter.error.message}</td><td>${e.letter.edits?.length ?? 0}</td></tr>`,
      )}</tbody></table>
      ${op && letters.length ? html`<p class="actions"><button type="submit" data-action="dry-run-selected">Dry-run replay selected</button> <button type="submit" class="danger" formaction="/dead-letters/discard" data-action="discard-selected">Discard selected…</button></p>` : ''}
      </form>`;
    return sendPage(ctx, req, reply, { title: 'Dead letters', body });
  });

  function letterPage(req: FastifyRequest, reply: FastifyReply, e: DeadLetterEntry, notice?: SafeHtml) {
    const l = e.letter;
    const def = jobs[l.name];
    const check = def?.payload.safeParse(l.payload);
    const t: TargetInput = { ids: [e.id], queue: l.sourceQueue };
    const body = html`<h1>Dead letter <code>${e.id}</code></h1>
      <p><a href="/dead-letters/list?queue=${encodeURIComponent(l.sourceQueue)}&amp;name=${encodeURIComponent(l.name)}&amp;fingerprint=${encodeURIComponent(l.fingerprint)}">← Its group</a></p>
      ${notice ?? ''}
      ${
        isOperator(req)
          ? html`<p class="actions">${actionForms(req, t, 'this letter')} <a class="button" href="${letterUrl(l.sourceQueue, e.id)}/edit" data-action="edit">Edit payload</a></p>`
          : ''
      }
      <table><tbody>
        <tr><th>Job</th><td>${l.name}</td></tr><tr><th>Source queue</th><td>${l.sourceQueue}</td></tr>
        <tr><th>Idempotency key</th><td>${l.idempotencyKey ?? ''}</td></tr><tr><th>Request id</th><td>${l.meta?.requestId ?? ''}</td></tr>
        <tr><th>Code</th><td><code>${l.code}</code></td></tr><tr><th>Error</th><td>${l.error.name}: ${l.error.message}</td></tr>
        <tr><th>Enqueued</th><td>${fmtTime(l.enqueuedAt)}</td></tr><tr><th>Failed</th><td>${fmtTime(l.failedAt)}</td></tr>
        <tr><th>Payload fits today's schema</th><td data-testid="schema-check">${check === undefined ? html`<span class="err">no job "${l.name}" in today's registry</span>` : check.success ? html`<span class="ok">yes</span>` : html`<span class="err">no: ${check.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}</span>`}</td></tr>
        <tr><th>Edits</th><td>${(l.edits ?? []).map((ed) => html`${ed.actor} at ${fmtTime(ed.at)}<br>`)}</td></tr>
      </tbody></table>
      <h2>Payload</h2><pre data-testid="payload">${json(l.payload)}</pre>
      <h2>Attempts</h2>
      <table><thead><tr><th>#</th><th>Error</th><th>Stack</th></tr></thead><tbody>
      ${l.attempts.map((a) => html`<tr><td>${a.attempt}</td><td><code>${a.code ?? ''}</code> ${a.name}: ${a.message}</td><td><details><summary>stack</summary><pre>${a.stack ?? ''}</pre></details></td></tr>`)}
      </tbody></table>
      ${def ? html`<h2>Payload schema (${l.name})</h2><pre>${json(payloadJsonSchema(def))}</pre>` : ''}`;
    return sendPage(ctx, req, reply, { title: `Dead letter ${e.id}`, body });
  }

  app.get('/dead-letters/:queue/:id', async (req, reply) => {
    const { queue, id } = req.params as { queue: string; id: string };
    const entry = await admin.getDeadLetter(id, sourceQueue(registry, queue));
    const edited = (req.query as { edited?: string }).edited;
    return letterPage(
      req,
      reply,
      entry,
      edited
        ? html`<div class="notice info" data-testid="edited">Payload saved; the edit is in the audit log.</div>`
        : undefined,
    );
  });

  function editPage(
    req: FastifyRequest,
    reply: FastifyReply,
    e: DeadLetterEntry,
    text: string,
    problems?: SafeHtml,
    status = 200,
  ) {
    const def = jobs[e.letter.name];
    const body = html`<h1>Edit payload of <code>${e.id}</code></h1>
      <p><a href="${letterUrl(e.letter.sourceQueue, e.id)}">← Letter</a> · job <code>${e.letter.name}</code></p>
      ${problems ?? ''}
      <form method="post" action="${letterUrl(e.letter.sourceQueue, e.id)}/edit">${csrfField(ctx, req)}
        <textarea name="payload" rows="18" spellcheck="false" data-testid="payload-editor">${text}</textarea>
        <p class="muted" id="client-check" data-testid="client-check"></p>
        <p><button type="submit" class="primary" data-action="save">Check and save</button></p>
      </form>
      ${def ? html`<h2>Schema</h2><pre>${json(payloadJsonSchema(def))}</pre>` : ''}`;
    // The server checks the payload against the schema; this only catches broken JSON before the round trip.
    const script = `const t=document.querySelector('textarea[name=payload]'),o=document.getElementById('client-check');
t.addEventListener('input',()=>{try{JSON.parse(t.value);o.textContent='';}catch(e){o.textContent='Not valid JSON: '+e.message;}});`;
    return sendPage(ctx, req, reply, { title: `Edit ${e.id}`, body, status, script });
  }

  app.get('/dead-letters/:queue/:id/edit', async (req, reply) => {
    const { queue, id } = req.params as { queue: string; id: string };
    if (!isOperator(req)) {
      return sendPage(ctx, req, reply, {
        title: 'Forbidden',
        status: 403,
        body: html`<h1>Forbidden</h1><p><code>AUTH_FORBIDDEN</code>: editing needs the operator role.</p>`,
      });
    }
    const entry = await admin.getDeadLetter(id, sourceQueue(registry, queue));
    return editPage(req, reply, entry, json(entry.letter.payload));
  });

  app.post('/dead-letters/:queue/:id/edit', async (req, reply) => {
    const { queue, id } = req.params as { queue: string; id: string };
    const q = sourceQueue(registry, queue);
    const entry = await admin.getDeadLetter(id, q);
    const text = String(one((req.body as Form)?.payload) ?? '');
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch (err) {
      const problems = html`<div class="notice error" role="alert" data-testid="edit-error"><code>REQUEST_INVALID</code>: not valid JSON (${(err as Error).message})</div>`;
      return editPage(req, reply, entry, text, problems, 400);
    }
    try {
      await admin.editDeadLetter(id, payload, { actor: req.identity!.user, ...(q ? { queue: q } : {}) });
    } catch (err) {
      if (!(err instanceof JobPayloadInvalidError)) throw err;
      const problems = html`<div class="notice error" role="alert" data-testid="edit-error"><p><code>${err.code}</code>: the payload does not fit the schema of ${err.jobName}; nothing was saved.</p>
        <ul>${err.issues.map((i) => html`<li data-testid="issue"><code>${i.path.join('.') || '(root)'}</code>: ${i.message}</li>`)}</ul></div>`;
      return editPage(req, reply, entry, text, problems, 400);
    }
    return reply.redirect(`${letterUrl(entry.letter.sourceQueue, id)}?edited=1`, 303);
  });

  function reportPage(req: FastifyRequest, reply: FastifyReply, t: TargetInput, report: ReplayReport) {
    const wouldReplay = report.outcomes.filter((o) => o.status !== 'refused').length;
    const body = html`<h1>${report.dryRun ? 'Dry run' : 'Replayed'}: ${describeTarget(t)}</h1>
      <p data-testid="summary">${report.dryRun ? html`<strong>${wouldReplay}</strong> would be replayed, <strong>${report.refused}</strong> would be refused (and stay).` : html`<strong>${report.replayed}</strong> replayed, <strong>${report.refused}</strong> refused (they stay).`}</p>
      ${
        report.dryRun && wouldReplay > 0
          ? html`<form method="post" action="/dead-letters/replay">${csrfField(ctx, req)}${targetFields(t)}<input type="hidden" name="dryRun" value="false"><button type="submit" class="primary" data-action="replay">Replay ${wouldReplay} letter(s) now</button></form>`
          : ''
      }
      <table data-testid="outcomes"><thead><tr><th>Letter</th><th>Job</th><th>Queue</th><th>Outcome</th><th>Why refused</th><th>New job</th></tr></thead><tbody>
      ${report.outcomes.map(
        (
          o,
        ) => html`<tr data-status="${o.status}"><td>${o.queue ? html`<a href="${letterUrl(o.queue, o.id)}">${o.id}</a>` : o.id}</td><td>${o.name}</td><td>${o.queue}</td>
          <td class="${o.status === 'refused' ? 'err' : 'ok'}">${o.status}</td><td>${o.code ? html`<code>${o.code}</code> ${o.reason ?? ''}` : ''}</td>
          <td>${o.newJobId && o.status === 'replayed' ? html`<a href="/jobs/${encodeURIComponent(o.queue)}/${encodeURIComponent(o.newJobId)}">${o.newJobId}</a>` : (o.newJobId ?? '')}</td></tr>`,
      )}</tbody></table>
      <p><a href="/dead-letters">← Dead letters</a> · <a href="/audit">Audit log</a></p>`;
    return sendPage(ctx, req, reply, { title: report.dryRun ? 'Dry run' : 'Replayed', body });
  }

  app.post('/dead-letters/replay', async (req, reply) => {
    const body = (req.body ?? {}) as Form;
    const t = formTarget(body);
    // Without an explicit dryRun=false the form only shows what would happen.
    const dryRun = one(body.dryRun) !== 'false';
    const report = await admin.replay(toLetterTarget(registry, t), { actor: req.identity!.user, dryRun });
    return reportPage(req, reply, t, report);
  });

  app.post('/dead-letters/discard', async (req, reply) => {
    const body = (req.body ?? {}) as Form;
    const t = formTarget(body);
    const target = toLetterTarget(registry, t);
    if (!truthy(body.confirm)) {
      const count = 'ids' in target ? target.ids.length : (await admin.listDeadLetters(target)).length;
      const page = html`<h1>Discard ${describeTarget(t)}?</h1>
        <p>${count} letter(s) will be deleted for good; they cannot be replayed afterwards.</p>
        <form method="post" action="/dead-letters/discard">${csrfField(ctx, req)}${targetFields(t)}<input type="hidden" name="confirm" value="true">
        <button type="submit" class="danger" data-action="confirm-discard">Discard ${count} letter(s)</button> <a href="/dead-letters">Cancel</a></form>`;
      return sendPage(ctx, req, reply, { title: 'Discard', body: page });
    }
    const { discarded } = await admin.discardDeadLetters(target, { actor: req.identity!.user });
    const page = html`<h1>Discarded</h1><p data-testid="summary">${discarded.length} letter(s) discarded.</p><p><a href="/dead-letters">← Dead letters</a></p>`;
    return sendPage(ctx, req, reply, { title: 'Discarded', body: page });
  });
}
