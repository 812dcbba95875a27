import {
  type DeadLetterEntry,
  deadLetterQueueName,
  groupLetters,
  type JobAdmin,
  type JobDefinition,
  JobPayloadInvalidError,
  type ReplayReport,
} from '@bullpen/jobs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { boardPathFor, type DashboardContext } from '../context.ts';
import { requestInvalid } from '../errors.ts';
import { html, json, type SafeHtml } from '../html.ts';
import { payloadJsonSchema } from '../job-schema.ts';
import { csrfField, fmtTime, sendPage } from '../layout.ts';
import { letterChart, letterHistory } from '../letter-chart.ts';
import { payloadVerdict } from '../payload-verdict.ts';
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

type Timeline = Awaited<ReturnType<JobAdmin['letterTimeline']>>;
/** A dry run shows the step plan of at most this many letters (each is one ledger read). */
const PLAN_LIMIT = 100;

/** A stored result's size for people. */
function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

const stepName = (name: string) => html`<code>${name}</code>`;

/** What a replay would do, in one sentence an operator reads before pressing the button. */
function replayPlan(tl: Timeline, edits: number): SafeHtml {
  const r = tl.replay;
  if (r.completesAtOnce)
    return html`The ledger marks this work done: a replay completes at once with the stored result, without running the handler.`;
  if (r.freshLedger)
    return html`The payload was edited (${edits} edit${edits === 1 ? '' : 's'}): a replay starts a fresh ledger and runs <strong>every step again</strong>.`;
  const redo = r.resumesAt
    ? html`and runs again from ${stepName(r.resumesAt)}, where the last attempt failed, with whatever follows it`
    : html`and runs the rest of the handler (the last attempt failed outside any step)`;
  if (r.skips.length === 0)
    return html`No finished step is recorded (none finished, or the ledger expired): a replay runs <strong>every step</strong> ${r.resumesAt ? html`(the last attempt failed in ${stepName(r.resumesAt)})` : ''}.`;
  return html`A replay <strong>skips ${r.skips.length} finished step${r.skips.length === 1 ? '' : 's'}</strong> (${r.skips.map((n, i) => html`${i ? ', ' : ''}${stepName(n)}`)}: their stored results are reused) ${redo}.`;
}

/** One line per event, oldest first: enqueued, attempts started and failed (in which step), steps finished, edits. */
function timelineEvents(e: DeadLetterEntry, tl: Timeline): SafeHtml {
  const l = e.letter;
  type Ev = { at: string; kind: string; text: SafeHtml };
  const events: Ev[] = [{ at: l.enqueuedAt, kind: 'enqueued', text: html`Enqueued` }];
  const own = (jobId: string) => (jobId === l.jobId ? '' : html` of <code>${jobId}</code>`);
  for (const a of tl.attempts) {
    if (a.startedAt)
      events.push({ at: a.startedAt, kind: 'start', text: html`Attempt ${a.attempt}${own(a.jobId)} started` });
    if (a.at)
      events.push({
        at: a.at,
        kind: 'fail',
        text: html`Attempt ${a.attempt}${own(a.jobId)} failed ${a.step !== undefined ? html`in step ${stepName(a.step)}` : 'outside any step'}: <code>${a.code ?? ''}</code> ${a.name}: ${a.message}`,
      });
  }
  for (const st of tl.steps) {
    if (st.at)
      events.push({
        at: st.at,
        kind: 'step',
        text: html`Step ${stepName(st.name)} finished (${size(st.bytes)} stored)`,
      });
  }
  for (const ed of l.edits ?? []) events.push({ at: ed.at, kind: 'edit', text: html`Payload edited by ${ed.actor}` });
  events.push({ at: l.failedAt, kind: 'dead', text: html`Dead-lettered: <code>${l.code}</code>` });
  // Stable: events of one instant keep the order above (an attempt fails before its letter is written).
  const sorted = events.map((ev, i) => ({ ev, i })).sort((a, b) => a.ev.at.localeCompare(b.ev.at) || a.i - b.i);
  const untimed = tl.steps.filter((st) => !st.at);
  return html`<ol class="bp-timeline" data-testid="timeline">${sorted.map(({ ev }) => html`<li class="${ev.kind}" data-kind="${ev.kind}"><time datetime="${ev.at}">${fmtTime(ev.at, true)}</time>${ev.text}</li>`)}</ol>
    ${untimed.length ? html`<p class="muted">Finished before the ledger recorded times: ${untimed.map((st, i) => html`${i ? ', ' : ''}${stepName(st.name)}`)}.</p>` : ''}`;
}

/** The letter's steps and attempts, and what a replay would skip and redo. */
function timelineSection(e: DeadLetterEntry, tl: Timeline): SafeHtml {
  const r = tl.replay;
  const failedIn = new Map<string, number[]>();
  for (const a of tl.attempts)
    if (a.step !== undefined) failedIn.set(a.step, [...(failedIn.get(a.step) ?? []), a.attempt]);
  const unfinished = [...failedIn.keys()].filter((n) => !tl.steps.some((st) => st.name === n));
  const onReplay = (name: string) =>
    r.completesAtOnce
      ? html`<span class="bp-tag">not run</span>`
      : r.skips.includes(name)
        ? html`<span class="bp-tag skip">skipped</span>`
        : html`<span class="bp-tag redo">runs again</span>`;
  return html`<div class="card" data-testid="replay-plan"><strong>On replay:</strong> ${replayPlan(tl, e.letter.edits?.length ?? 0)}</div>
    <h2>Step timeline</h2>
    ${timelineEvents(e, tl)}
    <h2>Steps</h2>
    ${
      tl.steps.length || unfinished.length
        ? html`<table data-testid="steps"><thead><tr><th>Step</th><th>Finished</th><th>Stored result</th><th>Attempts that failed in it</th><th>On replay</th></tr></thead><tbody>
      ${tl.steps.map((st) => html`<tr data-step="${st.name}"><td>${stepName(st.name)}</td><td>${st.at ? fmtTime(st.at) : html`<span class="muted">not recorded</span>`}</td><td>${size(st.bytes)}</td><td>${(failedIn.get(st.name) ?? []).join(', ')}</td><td>${onReplay(st.name)}</td></tr>`)}
      ${unfinished.map((n) => html`<tr data-step="${n}"><td>${stepName(n)}</td><td><span class="err">never finished</span></td><td></td><td>${failedIn.get(n)!.join(', ')}</td><td>${onReplay(n)}</td></tr>`)}
      </tbody></table>`
        : html`<p class="muted">No <code>ctx.step</code> recorded for this job.</p>`
    }
    <h2>Attempts</h2>
    <table data-testid="attempts"><thead><tr><th>#</th><th>Job</th><th>Started</th><th>Failed</th><th>In step</th><th>Error</th><th>Stack</th></tr></thead><tbody>
    ${tl.attempts.map(
      (
        a,
      ) => html`<tr data-attempt="${a.attempt}" data-job="${a.jobId}"><td>${a.attempt}</td><td>${a.jobId === e.letter.jobId ? html`<span class="muted">this job</span>` : html`<code>${a.jobId}</code>`}</td>
        <td>${a.startedAt ? fmtTime(a.startedAt) : ''}</td><td>${a.at ? fmtTime(a.at) : html`<span class="muted">not recorded</span>`}</td>
        <td>${a.step !== undefined ? stepName(a.step) : html`<span class="muted">outside any step</span>`}</td>
        <td><code>${a.code ?? ''}</code> ${a.name}: ${a.message}</td><td>${a.stack ? html`<details><summary>stack</summary><pre>${a.stack}</pre></details>` : ''}</td></tr>`,
    )}
    </tbody></table>`;
}

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
    // One read of the letters for the groups and the chart (what groupDeadLetters reads: at most 20,000).
    const entries = await admin.listDeadLetters({ limit: 20_000, ...filter });
    const groups = groupLetters(entries).map((g) => groupView(g));
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
          ? html`<h2>Over time</h2>
      ${letterChart(letterHistory(entries, groups))}
      <h2>By error</h2>
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
      ${letters.length && (t.queue || t.name || t.fingerprint || t.messageContains) ? html`<div class="actions">${actionForms(req, t, `all ${letters.length}`)}</div>` : ''}
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

  function letterPage(req: FastifyRequest, reply: FastifyReply, e: DeadLetterEntry, tl: Timeline, notice?: SafeHtml) {
    const l = e.letter;
    const def = jobs[l.name];
    const t: TargetInput = { ids: [e.id], queue: l.sourceQueue };
    const board = `${boardPathFor(req.identity)}/queue/${encodeURIComponent(deadLetterQueueName(l.sourceQueue))}/${encodeURIComponent(e.id)}`;
    const body = html`<h1>Dead letter <code>${e.id}</code></h1>
      <p><a href="/dead-letters/list?queue=${encodeURIComponent(l.sourceQueue)}&amp;name=${encodeURIComponent(l.name)}&amp;fingerprint=${encodeURIComponent(l.fingerprint)}">← Its group</a> · <a href="${board}" data-nav="letter-in-board">In Bull Board</a></p>
      ${notice ?? ''}
      ${
        isOperator(req)
          ? html`<div class="actions">${actionForms(req, t, 'this letter')} <a class="button" href="${letterUrl(l.sourceQueue, e.id)}/edit" data-action="edit">Edit payload</a></div>`
          : ''
      }
      <table><tbody>
        <tr><th>Job</th><td>${l.name}</td></tr><tr><th>Source queue</th><td>${l.sourceQueue}</td></tr>
        <tr><th>Idempotency key</th><td>${l.idempotencyKey ?? ''}</td></tr><tr><th>Request id</th><td>${l.meta?.requestId ?? ''}</td></tr>
        <tr><th>Code</th><td><code>${l.code}</code></td></tr><tr><th>Error</th><td>${l.error.name}: ${l.error.message}</td></tr>
        <tr><th>Enqueued</th><td>${fmtTime(l.enqueuedAt)}</td></tr><tr><th>Failed</th><td>${fmtTime(l.failedAt)}</td></tr>
        <tr><th>Payload fits today's schema</th><td data-testid="schema-check">${payloadVerdict(def, l.name, l.payload, l.meta?.v)}</td></tr>
        <tr><th>Edits</th><td>${(l.edits ?? []).map((ed) => html`${ed.actor} at ${fmtTime(ed.at)}<br>`)}</td></tr>
      </tbody></table>
      ${timelineSection(e, tl)}
      ${
        l.logs?.length
          ? html`<h2>Last log lines of the final attempt</h2><pre data-testid="letter-logs">${l.logs.join('\n')}</pre>`
          : ''
      }
      <h2>Payload</h2><pre data-testid="payload">${json(l.payload)}</pre>
      ${def ? html`<h2>Payload schema (${l.name})</h2><pre>${json(payloadJsonSchema(def))}</pre>` : ''}`;
    return sendPage(ctx, req, reply, { title: `Dead letter ${e.id}`, body });
  }

  app.get('/dead-letters/:queue/:id', async (req, reply) => {
    const { queue, id } = req.params as { queue: string; id: string };
    const q = sourceQueue(registry, queue);
    const entry = await admin.getDeadLetter(id, q);
    const timeline = await admin.letterTimeline(id, q);
    const edited = (req.query as { edited?: string }).edited;
    return letterPage(
      req,
      reply,
      entry,
      timeline,
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

  function reportPage(
    req: FastifyRequest,
    reply: FastifyReply,
    t: TargetInput,
    report: ReplayReport,
    plans: Map<string, Timeline>,
  ) {
    const wouldReplay = report.outcomes.filter((o) => o.status !== 'refused').length;
    const steps = (o: ReplayReport['outcomes'][number]) => {
      const tl = plans.get(`${o.queue}\u0000${o.id}`);
      if (!tl) return o.status === 'would-replay' && plans.size ? html`<span class="muted">see the letter</span>` : '';
      const r = tl.replay;
      if (r.completesAtOnce) return html`completes at once (done)`;
      if (r.freshLedger) return html`<span class="bp-tag redo">runs every step</span> (edited)`;
      return html`${r.skips.length ? html`<span class="bp-tag skip">skips ${r.skips.length}</span> ` : ''}${r.resumesAt ? html`<span class="bp-tag redo">runs again from</span> <code>${r.resumesAt}</code>` : r.skips.length ? '' : html`<span class="bp-tag redo">runs every step</span>`}`;
    };
    const body = html`<h1>${report.dryRun ? 'Dry run' : 'Replayed'}: ${describeTarget(t)}</h1>
      <p data-testid="summary">${report.dryRun ? html`<strong>${wouldReplay}</strong> would be replayed, <strong>${report.refused}</strong> would be refused (and stay).` : html`<strong>${report.replayed}</strong> replayed, <strong>${report.refused}</strong> refused (they stay).`}</p>
      ${
        report.dryRun && wouldReplay > 0
          ? html`<form method="post" action="/dead-letters/replay">${csrfField(ctx, req)}${targetFields(t)}<input type="hidden" name="dryRun" value="false"><button type="submit" class="primary" data-action="replay">Replay ${wouldReplay} letter(s) now</button></form>`
          : ''
      }
      <table data-testid="outcomes"><thead><tr><th>Letter</th><th>Job</th><th>Queue</th><th>Outcome</th><th>Why refused</th><th>New job</th>${report.dryRun ? html`<th>Steps on replay</th>` : ''}</tr></thead><tbody>
      ${report.outcomes.map(
        (
          o,
        ) => html`<tr data-status="${o.status}"><td>${o.queue ? html`<a href="${letterUrl(o.queue, o.id)}">${o.id}</a>` : o.id}</td><td>${o.name}</td><td>${o.queue}</td>
          <td class="${o.status === 'refused' ? 'err' : 'ok'}">${o.status}</td><td>${o.code ? html`<code>${o.code}</code> ${o.reason ?? ''}` : ''}</td>
          <td>${o.newJobId && o.status === 'replayed' ? html`<a href="/jobs/${encodeURIComponent(o.queue)}/${encodeURIComponent(o.newJobId)}">${o.newJobId}</a>` : (o.newJobId ?? '')}</td>
          ${report.dryRun ? html`<td data-testid="replay-steps">${steps(o)}</td>` : ''}</tr>`,
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
    // Before the button is pressed: what each replay would skip and redo (for the first letters of a large group).
    const plans = new Map<string, Timeline>();
    if (dryRun) {
      for (const o of report.outcomes.filter((x) => x.status === 'would-replay').slice(0, PLAN_LIMIT)) {
        plans.set(`${o.queue}\u0000${o.id}`, await admin.letterTimeline(o.id, o.queue));
      }
    }
    return reportPage(req, reply, t, report, plans);
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
