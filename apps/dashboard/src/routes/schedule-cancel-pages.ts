import { type CancelReport, isDeadLetterQueue, type ScheduleInfo } from '@bullpen/jobs';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { DashboardContext } from '../context.ts';
import { DashboardError, requestInvalid } from '../errors.ts';
import { html } from '../html.ts';
import { fmtTime, sendPage } from '../layout.ts';

/** How long a cancel from the dashboard waits for a running job to stop, so the answer shows its final state. */
const CANCEL_WAIT_MS = 5000;

const cancelBody = z
  .object({
    ids: z.array(z.string().min(1).max(500)).min(1).max(1000),
    queue: z.string().max(200).optional(),
    waitMs: z.number().int().min(0).max(60_000).default(CANCEL_WAIT_MS),
  })
  .strict();

const when = (s: ScheduleInfo) => (s.cron ? `${s.cron} (${s.tz ?? 'UTC'})` : `every ${s.everyMs} ms`);
const note = (s: ScheduleInfo) =>
  !s.scheduled
    ? 'not scheduled yet: no worker of its queue has started'
    : !s.inRegistry
      ? 'no longer in the registry: a worker removes it when it starts'
      : '';

/** The schedules with their next run times, and cancelling jobs (an operator's action, audited). */
export function scheduleAndCancelPages(app: FastifyInstance, ctx: DashboardContext) {
  const { admin, registry } = ctx;
  const actor = (req: { identity?: { user: string } | undefined }) => req.identity!.user;
  const knownQueue = (queue: string | undefined) => {
    if (queue !== undefined && (!registry.queues.includes(queue) || isDeadLetterQueue(queue))) {
      throw requestInvalid(`unknown queue "${queue}"`);
    }
    return queue;
  };

  app.get('/schedules', async (req, reply) => {
    const schedules = await admin.listSchedules();
    const body = html`<h1>Schedules</h1>
      <table data-testid="schedules"><thead><tr><th>Schedule</th><th>Job</th><th>Queue</th><th>When</th><th>Next run (UTC)</th><th>Runs so far</th><th>Note</th></tr></thead><tbody>
      ${schedules.map(
        (
          s,
        ) => html`<tr data-schedule="${s.name}"><td>${s.name}${s.description ? html`<br><span class="muted">${s.description}</span>` : ''}</td>
          <td>${s.job}</td><td>${s.queue}</td><td><code>${when(s)}</code></td><td data-testid="next-run">${s.next ? fmtTime(s.next) : ''}</td>
          <td>${s.iterations ?? ''}</td><td class="muted">${note(s)}</td></tr>`,
      )}</tbody></table>
      ${schedules.length === 0 ? html`<p class="muted">The registry has no schedules.</p>` : ''}`;
    return sendPage(ctx, req, reply, { title: 'Schedules', body });
  });

  app.get('/api/schedules', async () => ({ schedules: await admin.listSchedules() }));

  // The auth hook lets only operators through, with the session's CSRF token.
  app.post('/api/jobs/cancel', async (req): Promise<CancelReport> => {
    const r = cancelBody.safeParse(req.body);
    if (!r.success) throw requestInvalid(z.prettifyError(r.error));
    const queue = knownQueue(r.data.queue);
    return admin.cancel(r.data.ids, { actor: actor(req), ...(queue ? { queue } : {}), waitMs: r.data.waitMs });
  });

  app.post('/jobs/:queue/:id/cancel', async (req, reply) => {
    const { queue, id } = req.params as { queue: string; id: string };
    if (!registry.queues.includes(queue) || isDeadLetterQueue(queue)) {
      throw new DashboardError('NOT_FOUND', `unknown queue "${queue}"`);
    }
    const report = await admin.cancel([id], { actor: actor(req), queue, waitMs: CANCEL_WAIT_MS });
    const o = report.outcomes[0]!;
    const said = {
      removed: 'It had not started: it was removed from the queue.',
      signalled: 'It was running: the worker running it was told to stop.',
      'not-found': 'There is no such job (any more).',
      'already-finished': 'It had finished already; nothing was done.',
      ambiguous: 'The id names jobs in several queues; nothing was done.',
    }[o.status];
    const body = html`<h1>Cancel <code>${id}</code></h1>
      <div class="notice ${report.cancelled ? 'info' : 'error'}" role="status" data-testid="cancel-outcome" data-status="${o.status}">
      <strong>${o.status}</strong>: ${said}${o.state ? html` Its state now: <strong data-testid="cancel-state">${o.state}</strong>.` : ''}</div>
      <p><a href="/jobs/${encodeURIComponent(queue)}/${encodeURIComponent(id)}">← The job</a> · <a href="/audit">Audit log</a></p>`;
    return sendPage(ctx, req, reply, { title: `Cancel ${id}`, body });
  });
}
