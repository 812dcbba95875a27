import { createWorker, defineRegistry, defineSchedule } from '@bullpen/jobs';
import { waitFor } from '@bullpen/test-utils';
import { imageResize, webhookDeliver } from '@bullpen/uploads';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { imagePayload, login, useDashboardTest, useUsers } from './helpers.ts';

// The upload catalog with a nightly webhook and a frequent one: the dashboard shows what any registry declares.
const nightly = defineSchedule({
  name: 'ops.nightly-ping',
  job: webhookDeliver,
  payload: { url: 'https://hooks.example.com/ping', event: 'ops.ping', subjectId: 'nightly', body: {} },
  cron: '0 2 * * *',
  tz: 'Europe/Lisbon',
  description: 'Tells the on-call hook we are alive',
});
const often = defineSchedule({
  name: 'ops.often',
  job: webhookDeliver,
  payload: { url: 'https://hooks.example.com/ping', event: 'ops.ping', subjectId: 'often', body: {} },
  everyMs: 3_600_000,
});
const registry = defineRegistry([imageResize, webhookDeliver], { schedules: [nightly, often] });

describe('dashboard: schedules and cancelling jobs', () => {
  useUsers();
  const t = useDashboardTest();

  async function app() {
    const a = await buildApp(t.config(), { registry });
    t.defer(() => a.close());
    await a.ready();
    return a;
  }

  /** A worker whose resize waits for its signal: a job that runs until cancelled. */
  async function runningResize(uploadId: string) {
    const worker = createWorker(
      registry,
      {
        'image.resize': (_p, ctx) =>
          new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
        'webhook.deliver': () => {},
      },
      { connection: t.connect('worker'), prefix: t.prefix },
    );
    t.defer(() => worker.close({ deadlineMs: 2000 }));
    await worker.waitUntilReady();
    const { jobId } = await t.producer().enqueue('image.resize', imagePayload(uploadId));
    await waitFor(() => worker.activeCount() === 1, 20_000, 'the resize to run');
    return jobId;
  }

  it('lists the schedules with their next run times once a worker has scheduled them', async () => {
    const dashboard = await app();
    const { cookie } = await login(dashboard, 'viewer');
    const before = (await dashboard.inject({ url: '/api/schedules', headers: { cookie } })).json().schedules;
    expect(before.map((s: { name: string; scheduled: boolean }) => [s.name, s.scheduled])).toEqual([
      ['ops.nightly-ping', false],
      ['ops.often', false],
    ]);
    const worker = createWorker(
      registry,
      { 'webhook.deliver': () => {} },
      { connection: t.connect('worker'), prefix: t.prefix, queues: ['webhooks'] },
    );
    t.defer(() => worker.close({ deadlineMs: 2000 }));
    await worker.waitUntilReady();
    const page = await dashboard.inject({ url: '/schedules', headers: { cookie } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('ops.nightly-ping');
    expect(page.body).toContain('0 2 * * * (Europe/Lisbon)');
    expect(page.body).toContain('Tells the on-call hook we are alive');
    expect(page.body).toContain('data-nav="schedules" aria-current="page"');
    const api = (await dashboard.inject({ url: '/api/schedules', headers: { cookie } })).json().schedules;
    const n = api.find((s: { name: string }) => s.name === 'ops.nightly-ping');
    expect(n).toMatchObject({ queue: 'webhooks', scheduled: true, inRegistry: true });
    const lisbon = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Lisbon', hour: '2-digit', minute: '2-digit' });
    expect(lisbon.format(new Date(n.next))).toBe('02:00');
  });

  it('an operator cancels a running job from its page (with the CSRF token); it ends cancelled, audited', async () => {
    const dashboard = await app();
    const jobId = await runningResize('upload-cancel-page1');
    const { cookie, csrf } = await login(dashboard, 'op');
    const jobPage = await dashboard.inject({ url: `/jobs/images/${encodeURIComponent(jobId)}`, headers: { cookie } });
    expect(jobPage.body).toContain('data-action="cancel-job"');
    const url = `/jobs/images/${encodeURIComponent(jobId)}/cancel`;
    const form = { cookie, 'content-type': 'application/x-www-form-urlencoded' };
    const noToken = await dashboard.inject({ method: 'POST', url, headers: form, payload: '' });
    expect(noToken.statusCode).toBe(403);
    expect(noToken.json().error.code).toBe('CSRF_INVALID');

    const res = await dashboard.inject({
      method: 'POST',
      url,
      headers: form,
      payload: `_csrf=${encodeURIComponent(csrf)}`,
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.body).toContain('data-status="signalled"');
    expect(res.body).toMatch(/data-testid="cancel-state">cancelled</);
    const after = await dashboard.inject({ url: `/jobs/images/${encodeURIComponent(jobId)}`, headers: { cookie } });
    expect(after.body).toMatch(/data-testid="job-state">cancelled</);
    expect(after.body).not.toContain('data-action="cancel-job"');
    const search = (await dashboard.inject({ url: '/api/search?q=upload-cancel-page1', headers: { cookie } })).json();
    expect(search.results).toEqual([expect.objectContaining({ id: jobId, state: 'cancelled', deadLetter: false })]);
    const [entry] = (await dashboard.inject({ url: '/api/audit?limit=1', headers: { cookie } })).json().entries;
    expect(entry).toMatchObject({ actor: 'op', action: 'cancel', ids: [jobId], queue: 'images', outcome: 'ok' });
  });

  it('cancels through the API; a viewer may not, and sees no cancel button', async () => {
    const dashboard = await app();
    const { jobId } = await t.producer().enqueue('image.resize', imagePayload('upload-cancel-api1'), { delay: 60_000 });
    const viewer = await login(dashboard, 'viewer');
    const page = await dashboard.inject({
      url: `/jobs/images/${encodeURIComponent(jobId)}`,
      headers: { cookie: viewer.cookie },
    });
    expect(page.body).not.toContain('data-action="cancel-job"');
    const refused = await dashboard.inject({
      method: 'POST',
      url: '/api/jobs/cancel',
      headers: { cookie: viewer.cookie, 'x-csrf-token': viewer.csrf },
      payload: { ids: [jobId] },
    });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.code).toBe('AUTH_FORBIDDEN');

    const op = await login(dashboard, 'op');
    const headers = { cookie: op.cookie, 'x-csrf-token': op.csrf };
    const bad = await dashboard.inject({ method: 'POST', url: '/api/jobs/cancel', headers, payload: { ids: [] } });
    expect(bad.json().error.code).toBe('REQUEST_INVALID');
    const res = await dashboard.inject({
      method: 'POST',
      url: '/api/jobs/cancel',
      headers,
      payload: { ids: [jobId, 'image.resize#nope'], queue: 'images' },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      cancelled: 1,
      outcomes: [
        { id: jobId, queue: 'images', name: 'image.resize', status: 'removed' },
        { id: 'image.resize#nope', status: 'not-found' },
      ],
    });
  });
});
