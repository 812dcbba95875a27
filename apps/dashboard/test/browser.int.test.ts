import { PermanentJobError } from '@bullpen/jobs';
import { waitFor } from '@bullpen/test-utils';
import { registry } from '@bullpen/uploads';
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, localContext, loginAs, screenshot } from './browser.ts';
import { imagePayload, PASSWORDS, useDashboardTest, useUsers } from './helpers.ts';

describe('dashboard in a real browser', () => {
  useUsers();
  const t = useDashboardTest();
  let browser: Browser | undefined;
  let launchError: unknown;

  // Each test fails on its own when Chromium is missing (a failed hook would only mark them skipped).
  beforeAll(async () => {
    browser = await launchChromium().catch((err) => {
      launchError = err;
      return undefined;
    });
  });
  afterAll(async () => {
    await browser?.close();
  });

  async function serve(): Promise<{ app: FastifyInstance; base: string }> {
    if (!browser) throw launchError;
    const app = await t.app();
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as { port: number };
    return { app, base: `http://127.0.0.1:${port}` };
  }

  /** A worker whose handlers fail for good while `state.failing` is set, then succeed. */
  async function flakyWorker() {
    const state = { failing: true, done: [] as string[] };
    const worker = t.worker({
      'image.resize': async (p, ctx) => {
        if (state.failing) throw new PermanentJobError('IMAGE_DECODE_FAILED', `cannot decode ${p.uploadId}`);
        state.done.push(ctx.job.id);
        return { ok: true };
      },
      'webhook.deliver': async () => ({ ok: true }),
    });
    await worker.waitUntilReady();
    return state;
  }

  function queue(name: string) {
    const q = new Queue(name, { connection: t.connect('admin'), prefix: t.prefix });
    t.defer(() => q.close());
    return q;
  }

  async function letters(n: number) {
    const dead = queue('images.dead');
    await waitFor(async () => (await dead.getWaitingCount()) === n, 15_000, `${n} dead letters`);
  }

  it('logs in, shows every queue, dry-runs and replays a dead-letter group, audits it, and refuses an invalid edit', async () => {
    const state = await flakyWorker();
    const producer = t.producer();
    const uploads = ['upload-a0000001', 'upload-a0000002', 'upload-a0000003'];
    for (const u of uploads) await producer.enqueue('image.resize', imagePayload(u));
    await letters(3);
    const { base } = await serve();
    const context = await localContext(browser!, base);
    try {
      const page = await context.newPage();
      await page.goto('/dead-letters');
      expect(new URL(page.url()).pathname).toBe('/login');
      await screenshot(page, 'login');
      await loginAs(page, 'op', PASSWORDS.op, true);
      // The login kept where we were going.
      expect(new URL(page.url()).pathname).toBe('/dead-letters');

      // Bull Board: every registry queue and its dead-letter queue, with counts.
      await page.goto('/board');
      for (const q of registry.queues) {
        await expect.poll(() => page.getByText(q, { exact: true }).count()).toBeGreaterThan(0);
        await expect.poll(() => page.getByText(`${q}.dead`, { exact: true }).count()).toBeGreaterThan(0);
      }
      await expect.poll(() => page.getByText('3 Jobs').count()).toBeGreaterThan(0);
      const counts = (await page.evaluate(async () => (await fetch('/board/api/queues')).json())) as {
        queues: { name: string; counts: Record<string, number> }[];
      };
      const byName = Object.fromEntries(
        counts.queues.map((q: { name: string; counts: Record<string, number> }) => [q.name, q.counts]),
      );
      expect(byName['images.dead']!.waiting).toBe(3);
      expect(byName.images!.failed).toBe(3);
      await screenshot(page, 'board-overview');

      // Dead letters grouped by fingerprint; open the group.
      await page.goto('/dead-letters');
      const group = page.locator('[data-testid=groups] tbody tr');
      await expect.poll(() => group.count()).toBe(1);
      expect(await group.locator('[data-testid=group-count]').textContent()).toBe('3');
      expect(await group.textContent()).toContain('IMAGE_DECODE_FAILED');
      await screenshot(page, 'dead-letters');
      await group.locator('[data-action=open-group]').click();
      await expect.poll(() => page.locator('[data-testid=letters] tbody tr').count()).toBe(3);
      await screenshot(page, 'dead-letter-group');

      // One letter is from an older schema: the dry run says it would be refused, and why.
      const dead = queue('images.dead');
      const old = (await dead.getJob(`image.resize#${uploads[0]}`))!;
      await old.updateData({ ...old.data, payload: { ...old.data.payload, format: 'bmp' } });
      await page.goto('/dead-letters');
      await page.locator('[data-testid=groups] [data-action=dry-run]').click();
      await page.waitForURL('**/dead-letters/replay');
      expect(await page.getByTestId('summary').textContent()).toMatch(/2 would be replayed, 1 would be refused/);
      const refused = page.locator('[data-testid=outcomes] tr[data-status=refused]');
      expect(await refused.textContent()).toContain('JOB_PAYLOAD_INVALID');
      expect(await refused.textContent()).toContain('format');
      await screenshot(page, 'dry-run');
      expect(await dead.getWaitingCount()).toBe(3);

      // Replay for real, with the handler fixed: the jobs complete in their source queue.
      state.failing = false;
      await page.locator('[data-action=replay]').click();
      await page.waitForLoadState();
      expect(await page.getByTestId('summary').textContent()).toMatch(/2 replayed, 1 refused/);
      await screenshot(page, 'replayed');
      const images = queue('images');
      await waitFor(async () => (await images.getCompletedCount()) === 2, 15_000, 'replays completed');
      expect(state.done.sort()).toEqual([`image.resize#${uploads[1]}-r1`, `image.resize#${uploads[2]}-r1`]);
      await page.goto('/board/queue/images?status=completed');
      await expect.poll(() => page.getByText(`image.resize#${uploads[1]}-r1`).count()).toBeGreaterThan(0);
      await screenshot(page, 'board-completed');

      // The audit log names who replayed what.
      await page.goto('/audit');
      const entry = page.locator('[data-testid=audit] tr[data-action=replay]').first();
      expect(await entry.textContent()).toContain('op');
      expect(await entry.textContent()).toContain(`image.resize#${uploads[1]}`);
      expect(await entry.textContent()).toContain('partial');
      await screenshot(page, 'audit');

      // Editing the refused letter into another invalid payload is refused, with zod's issues shown.
      const letterId = `image.resize#${uploads[0]}`;
      await page.goto(`/dead-letters/images/${encodeURIComponent(letterId)}`);
      await page.locator('[data-action=edit]').click();
      await page.fill(
        '[data-testid=payload-editor]',
        JSON.stringify({ uploadId: 'no', originalKey: '', format: 'bmp', width: -1, height: 1 }),
      );
      await page.locator('[data-action=save]').click();
      await page.waitForLoadState();
      const error = page.getByTestId('edit-error');
      expect(await error.textContent()).toContain('JOB_PAYLOAD_INVALID');
      const issues = await page.getByTestId('issue').allInnerTexts();
      expect(issues.join('\n')).toMatch(/uploadId/);
      expect(issues.join('\n')).toMatch(/width/);
      await screenshot(page, 'edit-refused');
      expect((await dead.getJob(letterId))!.data.payload.format).toBe('bmp');

      // A valid edit is saved and the letter then replays.
      await page.fill('[data-testid=payload-editor]', JSON.stringify(imagePayload(uploads[0]!)));
      await page.locator('[data-action=save]').click();
      await page.waitForURL('**?edited=1');
      expect(await page.getByTestId('schema-check').textContent()).toBe('yes');

      // Search by upload id finds the source job and the letter.
      await page.goto(`/search?q=${uploads[0]}`);
      expect(await page.getByTestId('results').textContent()).toContain('images.dead');
      await screenshot(page, 'search');

      // Retry from Bull Board's own UI: its client sends the CSRF token, the retry is audited, the letter goes.
      state.failing = true;
      await producer.enqueue('image.resize', imagePayload('upload-b0000001'));
      await letters(2);
      state.failing = false;
      const retryId = 'image.resize#upload-b0000001';
      await page.goto(`/board/queue/images/${encodeURIComponent(retryId)}`);
      const retried = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().includes('/retry'));
      await page.locator('button:has(svg.lucide-refresh-cw)').first().click();
      await page.getByRole('button', { name: 'Confirm' }).click();
      expect((await retried).status()).toBe(204);
      await waitFor(async () => state.done.includes(retryId), 15_000, 'retried job');
      expect(await dead.getJob(retryId)).toBeUndefined();
      await page.goto('/audit');
      const retryRow = page.locator('[data-testid=audit] tr[data-action=retry]').first();
      expect(await retryRow.textContent()).toContain(retryId);
      await screenshot(page, 'audit-retry');
    } finally {
      await context.close();
    }
  });

  it('gives a viewer no replay controls, a read-only board, and 403 from the API', async () => {
    await flakyWorker();
    await t.producer().enqueue('image.resize', imagePayload('upload-v0000001'));
    await letters(1);
    const { base } = await serve();
    const context = await localContext(browser!, base);
    try {
      const page = await context.newPage();
      await loginAs(page, 'viewer', PASSWORDS.viewer);
      expect(new URL(page.url()).pathname).toBe('/board-readonly');
      await page.goto('/board');
      expect(new URL(page.url()).pathname).toBe('/board-readonly');
      await page.goto('/dead-letters');
      await expect.poll(() => page.locator('[data-testid=groups] tbody tr').count()).toBe(1);
      expect(await page.locator('[data-action=dry-run], [data-action=replay], [data-action=discard]').count()).toBe(0);
      expect(await page.locator('button', { hasText: /replay|discard/i }).count()).toBe(0);
      await screenshot(page, 'viewer-dead-letters');
      await page.goto(`/dead-letters/images/${encodeURIComponent('image.resize#upload-v0000001')}`);
      expect(await page.locator('[data-action=edit], [data-action=dry-run]').count()).toBe(0);
      const csrf = (await context.cookies()).find((c) => c.name === 'XSRF-TOKEN')?.value ?? '';
      expect(csrf).not.toBe('');
      const status = await page.evaluate(async (token) => {
        const res = await fetch('/api/dead-letters/replay', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-csrf-token': token },
          body: JSON.stringify({ target: { queue: 'images' } }),
        });
        return { status: res.status, body: await res.json() };
      }, csrf);
      expect(status).toMatchObject({ status: 403, body: { error: { code: 'AUTH_FORBIDDEN' } } });
    } finally {
      await context.close();
    }
  });

  it('answers 401 or redirects to the login page on every route when logged out', async () => {
    const { app, base } = await serve();
    const context = await localContext(browser!, base);
    try {
      const routes = app
        .printRoutes({ commonPrefix: false })
        .split('\n')
        .map((l) => /([/][^\s(]*)\s*\(([^)]+)\)/.exec(l.replace(/^[\s│├└─]+/, '')))
        .filter((m): m is RegExpExecArray => !!m)
        .flatMap((m) => m[2]!.split(', ').map((method) => [method, m[1]!] as const))
        .filter(([method, path]) => method !== 'HEAD' && method !== 'OPTIONS' && !path.includes('*'));
      expect(routes.length).toBeGreaterThan(40);
      const open = new Set(['/login', '/healthz', '/metrics']);
      for (const [method, path] of routes) {
        const url = path.replace(/:(\w+)/g, 'x');
        const res = await context.request.fetch(url, {
          method,
          maxRedirects: 0,
          failOnStatusCode: false,
          headers: { accept: 'text/html' },
        });
        if (open.has(path)) {
          expect(res.status(), `${method} ${path}`).toBeLessThan(500);
          continue;
        }
        const status = res.status();
        expect([401, 302], `${method} ${path}`).toContain(status);
        if (status === 302) expect(res.headers().location, `${method} ${path}`).toMatch(/^\/login\?next=/);
        else expect((await res.json()).error.code, `${method} ${path}`).toBe('AUTH_REQUIRED');
      }
      const page = await context.newPage();
      await page.goto('/board/queue/images');
      expect(new URL(page.url()).pathname).toBe('/login');
    } finally {
      await context.close();
    }
  });
});
