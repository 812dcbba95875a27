import { Writable } from 'node:stream';
import { createWorker, PermanentJobError } from '@bullpen/jobs';
import { waitFor } from '@bullpen/test-utils';
import { registry } from '@bullpen/uploads';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { screenshot, submitLogin, useBrowser, visible, WAIT_MS } from './browser.ts';
import { imagePayload, PASSWORDS, useDashboardTest, useUsers } from './helpers.ts';

const TEST_MS = 240_000;

describe('charts in a real browser', () => {
  useUsers();
  const t = useDashboardTest();
  const { serve, person } = useBrowser(t, 'charts');

  /**
   * Jobs that ran under a worker collecting BullMQ's metrics and writing job logs (as apps/worker does): 4 done,
   * 2 dead in two error groups, each logging a line.
   */
  async function runJobs() {
    const worker = createWorker(
      registry,
      {
        'image.resize': async (p, ctx) => {
          ctx.log.info({ uploadId: p.uploadId }, 'resize.started');
          if (p.uploadId.includes('bad'))
            throw new PermanentJobError('IMAGE_DECODE_FAILED', `cannot decode ${p.uploadId}`);
          if (p.uploadId.includes('gone'))
            throw new PermanentJobError('IMAGE_ORIGINAL_MISSING', 'the original is gone');
          return { ok: true };
        },
        'webhook.deliver': async () => ({ ok: true }),
      },
      {
        connection: t.connect('worker'),
        prefix: t.prefix,
        // Info lines are what job logs keep; this test prints none of them.
        logger: pino({ level: 'info' }, new Writable({ write: (_c, _e, cb) => cb() })),
        queueMetrics: { maxDataPoints: 60 },
      },
    );
    t.defer(() => worker.close({ deadlineMs: 2000 }));
    const producer = t.producer();
    const ids = ['upload-ok000001', 'upload-ok000002', 'upload-ok000003', 'upload-ok000004'];
    for (const u of [...ids, 'upload-bad00001', 'upload-gone0001'])
      await producer.enqueue('image.resize', imagePayload(u));
    await waitFor(
      async () => (await producer.queue('images').getMetrics('completed')).meta.count === 4,
      WAIT_MS,
      'four jobs completed and counted',
    );
    await waitFor(async () => (await producer.queues.dead('images').getWaitingCount()) === 2, WAIT_MS, 'two letters');
    return { okJob: `image.resize#${ids[0]}`, badLetter: 'image.resize#upload-bad00001' };
  }

  it(
    'shows Bull Board’s throughput chart and a job’s log lines, and the letters-per-error chart, without console or CSP errors',
    async () => {
      const { okJob, badLetter } = await runJobs();
      const { base } = await serve();
      await person(base, async (p) => {
        await p.page.goto('/login');
        await submitLogin(p.page, 'op', PASSWORDS.op);

        // Bull Board's queue page charts throughput from BullMQ's metrics, instead of "No metrics collected yet".
        await p.page.goto('/board/queue/images');
        await visible(p.page.getByText('Throughput (jobs / min)', { exact: true }));
        await visible(p.page.locator('.recharts-surface .recharts-area'));
        const lastHour = p.page.locator('[class*=stat-]', { hasText: 'Completed (last 60 min)' });
        await expect.poll(() => lastHour.textContent(), { timeout: WAIT_MS }).toMatch(/^4/);
        expect(await p.page.getByText(/No metrics collected yet/).count()).toBe(0);
        await screenshot(p.page, 'board-queue-throughput');

        // A job's Logs tab: its handler's line.
        await p.page.goto(`/board/queue/images/${encodeURIComponent(okJob)}`);
        await (await visible(p.page.getByText('Logs', { exact: true }))).first().click();
        await visible(p.page.getByText(/info resize\.started \{"uploadId":"upload-ok000001"\}/));
        await screenshot(p.page, 'board-job-logs');

        // Bullpen's dead-letter page: letters per error group over time, server-rendered SVG.
        await p.page.goto('/dead-letters');
        const chart = await visible(p.page.getByTestId('letters-chart'));
        await expect.poll(() => chart.locator('svg rect[data-fingerprint]').count(), { timeout: WAIT_MS }).toBe(2);
        await expect.poll(() => chart.getByTestId('letters-chart-legend').locator('li').count()).toBe(2);
        expect(await chart.getByTestId('letters-chart-legend').textContent()).toMatch(/IMAGE_DECODE_FAILED/);
        await screenshot(p.page, 'dead-letters-chart');

        // A letter keeps the last lines of its final attempt.
        await p.page.goto(`/dead-letters/images/${encodeURIComponent(badLetter)}`);
        await visible(p.page.getByTestId('letter-logs').getByText(/info resize\.started/));
      });
    },
    TEST_MS,
  );
});
