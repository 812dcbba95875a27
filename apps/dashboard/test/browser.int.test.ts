import { PermanentJobError } from '@bullpen/jobs';
import { waitFor } from '@bullpen/test-utils';
import { registry } from '@bullpen/uploads';
import { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { count, type Person, type Served, screenshot, submitLogin, useBrowser, visible, WAIT_MS } from './browser.ts';
import { imagePayload, PASSWORDS, useDashboardTest, useUsers } from './helpers.ts';

/** Per test: loaded 2-core machines are slow, and one flow spans many pages. */
const TEST_MS = 240_000;

describe('dashboard in a real browser', () => {
  useUsers();
  const t = useDashboardTest();
  const { serve, person } = useBrowser(t, 'dashboard');

  /**
   * image.resize in two steps: the first always finishes, the second fails for good while `state.failing` is set.
   * `state.ran` lists each step body that really ran, by job id, to check what a replay skipped.
   */
  async function flakyWorker() {
    const state = { failing: true, done: [] as string[], ran: [] as string[] };
    const worker = t.worker({
      'image.resize': async (p, ctx) => {
        await ctx.step('variant:128.webp', () => {
          state.ran.push(`${ctx.job.id} variant:128.webp`);
          return { name: '128.webp', bytes: 1234 };
        });
        await ctx.step('variant:512.webp', () => {
          if (state.failing) throw new PermanentJobError('IMAGE_DECODE_FAILED', `cannot decode ${p.uploadId}`);
          state.ran.push(`${ctx.job.id} variant:512.webp`);
          return { name: '512.webp', bytes: 5678 };
        });
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
    await waitFor(async () => (await dead.getWaitingCount()) === n, WAIT_MS, `${n} dead letters`);
  }

  /** The bar: present, with the user and role shown. */
  async function expectBar(p: Person, who: string) {
    const bar = await visible(p.page.getByTestId('bullpen-bar'));
    await expect.poll(() => bar.getByTestId('who').textContent(), { timeout: WAIT_MS }).toBe(who);
  }

  it(
    'logs in on the first try in a fresh browser that fetches its favicon and opens a second tab (issue 9)',
    async () => {
      const { base, served } = await serve();
      await person(base, async (p) => {
        await p.page.goto('/login');
        await visible(p.page.locator('form.bp-login'));
        // The browser asks for the page's icon on its own (no interception here): it is served, not redirected.
        const icon = (s: Served) => s.method === 'GET' && /^\/(favicon\.ico|assets\/favicon\.svg)$/.test(s.url);
        await expect.poll(() => served.filter(icon).length, { timeout: WAIT_MS, interval: 100 }).toBeGreaterThan(0);
        // A second tab on the login page, and the icon fetched as a page of its own.
        const tab = await p.context.newPage();
        await tab.goto('/login');
        await visible(tab.locator('form.bp-login'));
        const favicon = await tab.goto('/favicon.ico');
        expect(favicon?.status()).toBe(200);
        await tab.close();
        await screenshot(p.page, 'login');

        await submitLogin(p.page, 'op', PASSWORDS.op);
        expect(new URL(p.page.url()).pathname).toBe('/board');
        expect(served.filter((s) => s.method === 'POST' && s.url === '/login').map((s) => s.status)).toEqual([303]);
        expect(served.filter(icon).every((s) => s.status === 200 || s.status === 304)).toBe(true);
        expect(served.filter((s) => s.location?.startsWith('/login'))).toEqual([]);

        // Bull Board under Bullpen's bar; nobody works the dead-letter queues, and they do not say "No workers".
        await expectBar(p, 'op · operator');
        for (const q of registry.queues) {
          await visible(p.page.getByText(q, { exact: true }));
          await visible(p.page.getByText(`${q}.dead`, { exact: true }));
        }
        await count(p.page.getByText('No workers', { exact: true }), registry.queues.length);
        const api = await p.context.request.get('/board/api/queues');
        const workers = Object.fromEntries(
          ((await api.json()).queues as { name: string; hasWorkers: boolean | null }[]).map((q) => [
            q.name,
            q.hasWorkers,
          ]),
        );
        for (const q of registry.queues) expect([workers[q], workers[`${q}.dead`]]).toEqual([false, null]);
        await screenshot(p.page, 'board-no-workers');
      });
    },
    TEST_MS,
  );

  it(
    'takes an operator from the queues to a dead-letter group, its step timeline, a dry run, a replay and the audit entry',
    async () => {
      const state = await flakyWorker();
      const producer = t.producer();
      const uploads = ['upload-a0000001', 'upload-a0000002', 'upload-a0000003'];
      for (const u of uploads) await producer.enqueue('image.resize', imagePayload(u));
      await letters(3);
      const { base } = await serve();
      await person(base, async (p) => {
        const { page } = p;
        await page.goto('/dead-letters');
        expect(new URL(page.url()).pathname).toBe('/login');
        await submitLogin(page, 'op', PASSWORDS.op);
        // The login kept where we were going.
        expect(new URL(page.url()).pathname).toBe('/dead-letters');
        await expectBar(p, 'op · operator');

        // One click to Bull Board: every queue and its dead-letter queue, with counts.
        await page.getByTestId('bullpen-bar').getByRole('link', { name: 'Queues' }).click();
        await page.waitForURL('**/board');
        await expectBar(p, 'op · operator');
        for (const q of registry.queues) {
          await visible(page.getByText(q, { exact: true }));
          await visible(page.getByText(`${q}.dead`, { exact: true }));
        }
        await visible(page.getByText('3 Jobs'));
        const counts = (await (await p.context.request.get('/board/api/queues')).json()) as {
          queues: { name: string; counts: Record<string, number> }[];
        };
        const byName = Object.fromEntries(counts.queues.map((q) => [q.name, q.counts]));
        expect(byName['images.dead']!.waiting).toBe(3);
        expect(byName.images!.failed).toBe(3);
        await screenshot(page, 'board-overview');

        // A letter in Bull Board links to its timeline.
        await page.goto('/board/queue/images.dead');
        const timelineLink = await visible(page.getByRole('link', { name: 'Step timeline and replay' }));
        expect(await timelineLink.first().getAttribute('href')).toMatch(
          /^\/dead-letters\/images\/image\.resize%23upload-a/,
        );
        await screenshot(page, 'board-dead-letter-queue');

        // One click back: the letters grouped by error.
        await page.getByTestId('bullpen-bar').getByRole('link', { name: 'Dead letters' }).click();
        await page.waitForURL('**/dead-letters');
        const group = page.locator('[data-testid=groups] tbody tr');
        await count(group, 1);
        expect(await group.locator('[data-testid=group-count]').textContent()).toBe('3');
        expect(await group.textContent()).toContain('IMAGE_DECODE_FAILED');
        await screenshot(page, 'dead-letters');
        await group.locator('[data-action=open-group]').click();
        await count(page.locator('[data-testid=letters] tbody tr'), 3);
        await screenshot(page, 'dead-letter-group');

        // A letter's step timeline: what finished, where each attempt failed, what a replay skips and redoes.
        await page.locator('[data-testid=letters] tbody tr a').first().click();
        const plan = await visible(page.getByTestId('replay-plan'));
        expect(await plan.textContent()).toMatch(
          /skips 1 finished step \(variant:128\.webp: their stored results are reused\) and runs again from variant:512\.webp/,
        );
        const timeline = page.getByTestId('timeline');
        await visible(timeline.locator('li[data-kind=step]'));
        expect(await timeline.locator('li[data-kind=step]').textContent()).toContain('variant:128.webp finished');
        expect(await timeline.locator('li[data-kind=fail]').textContent()).toMatch(
          /Attempt 1 failed in step variant:512\.webp: IMAGE_DECODE_FAILED/,
        );
        expect(await page.locator('[data-testid=steps] tr[data-step="variant:128.webp"]').textContent()).toContain(
          'skipped',
        );
        expect(await page.locator('[data-testid=steps] tr[data-step="variant:512.webp"]').textContent()).toContain(
          'runs again',
        );
        await screenshot(page, 'letter-timeline');

        // One letter is from an older schema: the dry run says it would be refused, and why; and what each would skip.
        const dead = queue('images.dead');
        const old = (await dead.getJob(`image.resize#${uploads[0]}`))!;
        await old.updateData({ ...old.data, payload: { ...old.data.payload, format: 'bmp' } });
        await page.getByTestId('bullpen-bar').getByRole('link', { name: 'Dead letters' }).click();
        await page.waitForURL('**/dead-letters');
        await page.locator('[data-testid=groups] [data-action=dry-run]').click();
        await page.waitForURL('**/dead-letters/replay');
        expect(await (await visible(page.getByTestId('summary'))).textContent()).toMatch(
          /2 would be replayed, 1 would be refused/,
        );
        const refused = page.locator('[data-testid=outcomes] tr[data-status=refused]');
        expect(await refused.textContent()).toContain('JOB_PAYLOAD_INVALID');
        expect(await refused.textContent()).toContain('format');
        const steps = await page.locator('tr[data-status=would-replay] [data-testid=replay-steps]').allTextContents();
        expect(steps).toEqual(['skips 1 runs again from variant:512.webp', 'skips 1 runs again from variant:512.webp']);
        await screenshot(page, 'dry-run');
        expect(await dead.getWaitingCount()).toBe(3);

        // Replay for real, with the handler fixed: the finished step is skipped, the failed one runs again.
        state.failing = false;
        await page.locator('[data-action=replay]').click();
        await page.waitForURL('**/dead-letters/replay');
        await expect
          .poll(() => page.getByTestId('summary').textContent(), { timeout: WAIT_MS })
          .toMatch(/2 replayed, 1 refused/);
        await screenshot(page, 'replayed');
        const images = queue('images');
        await waitFor(async () => (await images.getCompletedCount()) === 2, WAIT_MS, 'replays completed');
        const replays = [`image.resize#${uploads[1]}-r1`, `image.resize#${uploads[2]}-r1`];
        expect(state.done.sort()).toEqual(replays);
        expect(state.ran.filter((r) => r.includes('-r1')).sort()).toEqual(
          replays.map((id) => `${id} variant:512.webp`),
        );

        // The audit log names who replayed what.
        await page.getByTestId('bullpen-bar').getByRole('link', { name: 'Audit log' }).click();
        await page.waitForURL('**/audit');
        const entry = await visible(page.locator('[data-testid=audit] tr[data-action=replay]'));
        const text = await entry.first().textContent();
        expect(text).toContain('op');
        expect(text).toContain(`image.resize#${uploads[1]}`);
        expect(text).toContain('partial');
        await screenshot(page, 'audit');

        // And back to Bull Board, where the replays completed.
        await page.getByTestId('bullpen-bar').getByRole('link', { name: 'Queues' }).click();
        await page.waitForURL('**/board');
        await page.goto('/board/queue/images?status=completed');
        await visible(page.getByText(replays[0]!));
        await screenshot(page, 'board-completed');
      });
    },
    TEST_MS,
  );

  it(
    'refuses an invalid payload edit with zod’s issues, finds a letter by upload id, and retries from Bull Board’s own buttons',
    async () => {
      const state = await flakyWorker();
      const producer = t.producer();
      await producer.enqueue('image.resize', imagePayload('upload-e0000001'));
      await producer.enqueue('image.resize', imagePayload('upload-b0000001'));
      await letters(2);
      const { base } = await serve();
      await person(base, async (p) => {
        const { page } = p;
        await page.goto('/login');
        await submitLogin(page, 'op', PASSWORDS.op);
        const letterId = 'image.resize#upload-e0000001';
        await page.goto(`/dead-letters/images/${encodeURIComponent(letterId)}`);
        await page.locator('[data-action=edit]').click();
        await page.waitForURL('**/edit');
        await page.fill(
          '[data-testid=payload-editor]',
          JSON.stringify({ uploadId: 'no', originalKey: '', format: 'bmp', width: -1, height: 1 }),
        );
        // The page answers 400 with the issues: the browser reports the status, which is the point here.
        await p.expectingErrors(/status of 400/, async () => {
          await page.locator('[data-action=save]').click();
          await visible(page.getByTestId('edit-error'));
        });
        expect(await page.getByTestId('edit-error').textContent()).toContain('JOB_PAYLOAD_INVALID');
        const issues = (await page.getByTestId('issue').allInnerTexts()).join('\n');
        expect(issues).toMatch(/uploadId/);
        expect(issues).toMatch(/width/);
        await screenshot(page, 'edit-refused');
        const dead = queue('images.dead');
        expect((await dead.getJob(letterId))!.data.payload.format).toBe('png');

        // A valid edit is saved; the replay would then start a fresh ledger.
        await page.fill('[data-testid=payload-editor]', JSON.stringify(imagePayload('upload-e0000001')));
        await page.locator('[data-action=save]').click();
        await page.waitForURL('**?edited=1');
        expect(await page.getByTestId('schema-check').textContent()).toBe('yes');
        expect(await page.getByTestId('replay-plan').textContent()).toMatch(/runs every step again/);

        // Search by upload id finds the source job and the letter.
        await page.getByTestId('bullpen-bar').getByRole('link', { name: 'Search' }).click();
        await page.waitForURL('**/search');
        await page.fill('input[name=q]', 'upload-e0000001');
        await page.keyboard.press('Enter');
        await page.waitForURL('**/search?q=upload-e0000001');
        expect(await (await visible(page.getByTestId('results'))).textContent()).toContain('images.dead');
        await screenshot(page, 'search');

        // Retry from Bull Board's own UI: its client sends the CSRF token, the retry is audited, the letter goes.
        state.failing = false;
        const retryId = 'image.resize#upload-b0000001';
        await page.goto(`/board/queue/images/${encodeURIComponent(retryId)}`);
        const retried = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().includes('/retry'), {
          timeout: WAIT_MS,
        });
        await (await visible(page.locator('button:has(svg.lucide-refresh-cw)'))).first().click();
        await (await visible(page.getByRole('button', { name: 'Confirm' }))).click();
        expect((await retried).status()).toBe(204);
        await waitFor(async () => state.done.includes(retryId), WAIT_MS, 'retried job');
        expect(await dead.getJob(retryId)).toBeUndefined();
        await page.goto('/audit');
        const retryRow = await visible(page.locator('[data-testid=audit] tr[data-action=retry]'));
        expect(await retryRow.first().textContent()).toContain(retryId);
        await screenshot(page, 'audit-retry');
      });
    },
    TEST_MS,
  );

  it(
    'refuses a viewer every mutation: no controls on the pages, 403 on the edit page and from scripts',
    async () => {
      await flakyWorker();
      await t.producer().enqueue('image.resize', imagePayload('upload-v0000001'));
      await letters(1);
      const { base } = await serve();
      await person(base, async (p) => {
        const { page } = p;
        await page.goto('/login');
        await submitLogin(page, 'viewer', PASSWORDS.viewer);
        expect(new URL(page.url()).pathname).toBe('/board-readonly');
        await expectBar(p, 'viewer · viewer');
        await page.goto('/board');
        expect(new URL(page.url()).pathname).toBe('/board-readonly');
        await visible(page.getByText('images.dead', { exact: true }));
        await screenshot(page, 'viewer-board');

        await page.getByTestId('bullpen-bar').getByRole('link', { name: 'Dead letters' }).click();
        await page.waitForURL('**/dead-letters');
        await count(page.locator('[data-testid=groups] tbody tr'), 1);
        expect(await page.locator('[data-action=dry-run], [data-action=replay], [data-action=discard]').count()).toBe(
          0,
        );
        expect(await page.locator('main button', { hasText: /replay|discard/i }).count()).toBe(0);
        await screenshot(page, 'viewer-dead-letters');
        const letter = `/dead-letters/images/${encodeURIComponent('image.resize#upload-v0000001')}`;
        await page.goto(letter);
        await visible(page.getByTestId('timeline'));
        expect(await page.locator('[data-action=edit], [data-action=dry-run]').count()).toBe(0);

        // The edit page itself is a 403 (the browser reports the status: that is the point).
        await p.expectingErrors(/status of 403/, async () => {
          const res = await page.goto(`${letter}/edit`);
          expect(res?.status()).toBe(403);
        });
        expect(await page.locator('main').textContent()).toContain('AUTH_FORBIDDEN');
        await screenshot(page, 'viewer-forbidden');

        // A script in the viewer's browser, with a valid CSRF token, is refused too.
        const csrf = (await p.context.cookies()).find((c) => c.name === 'XSRF-TOKEN')?.value ?? '';
        expect(csrf).not.toBe('');
        for (const [method, url, data] of [
          ['POST', '/api/dead-letters/replay', { target: { queue: 'images' } }],
          ['POST', '/dead-letters/discard', { queue: 'images', confirm: 'true', _csrf: csrf }],
          ['PUT', '/board-readonly/api/queues/images/pause', {}],
        ] as const) {
          const res = await p.context.request.fetch(url, {
            method,
            headers: { 'x-csrf-token': csrf, 'x-xsrf-token': csrf },
            data,
            failOnStatusCode: false,
          });
          expect(res.status(), url).toBe(403);
          expect((await res.json()).error.code, url).toBe('AUTH_FORBIDDEN');
        }
      });
    },
    TEST_MS,
  );

  it(
    'logs out from the bar, on Bull Board’s page as on ours, and the session is over',
    async () => {
      const { base } = await serve();
      await person(base, async (p) => {
        const { page } = p;
        await page.goto('/login');
        await submitLogin(page, 'op', PASSWORDS.op);
        await page.goto('/audit');
        await page.getByTestId('bullpen-bar').locator('[data-action=logout]').click();
        await page.waitForURL('**/login');
        await visible(page.locator('form.bp-login'));
        expect((await p.context.request.get('/api/me', { failOnStatusCode: false })).status()).toBe(401);

        // Again, from Bull Board's page.
        await submitLogin(page, 'op', PASSWORDS.op);
        expect(new URL(page.url()).pathname).toBe('/board');
        await expectBar(p, 'op · operator');
        await page.getByTestId('bullpen-bar').locator('[data-action=logout]').click();
        await page.waitForURL('**/login');
        await page.goto('/dead-letters');
        expect(new URL(page.url()).pathname).toBe('/login');
        await screenshot(page, 'logged-out');
      });
    },
    TEST_MS,
  );

  it(
    'answers 401 or redirects to the login page on every route when logged out',
    async () => {
      const { app, base } = await serve();
      await person(base, async (p) => {
        const routes = app
          .printRoutes({ commonPrefix: false })
          .split('\n')
          .map((l) => /([/][^\s(]*)\s*\(([^)]+)\)/.exec(l.replace(/^[\s│├└─]+/, '')))
          .filter((m): m is RegExpExecArray => !!m)
          .flatMap((m) => m[2]!.split(', ').map((method) => [method, m[1]!] as const))
          .filter(([method, path]) => method !== 'HEAD' && method !== 'OPTIONS' && !path.includes('*'));
        expect(routes.length).toBeGreaterThan(40);
        const open = new Set([
          '/login',
          '/healthz',
          '/metrics',
          '/favicon.ico',
          '/assets/dashboard.css',
          '/assets/favicon.svg',
        ]);
        for (const [method, path] of routes) {
          const url = path.replace(/:(\w+)/g, 'x');
          const res = await p.context.request.fetch(url, {
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
        await p.page.goto('/board/queue/images');
        expect(new URL(p.page.url()).pathname).toBe('/login');
      });
    },
    TEST_MS,
  );
});
