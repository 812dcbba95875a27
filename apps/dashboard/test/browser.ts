import { existsSync, mkdirSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect } from 'vitest';
import type { useDashboardTest } from './helpers.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS = path.join(import.meta.dirname, '..', 'test-results', 'screenshots');

/** Generous on purpose: the suite must hold on a loaded 2-core machine. Waits are on conditions, never on time. */
export const WAIT_MS = 30_000;
const NAVIGATION_MS = 45_000;

/** Debian's chromium, headless. Missing, it fails loudly: CI installs it, and a skipped browser test proves nothing. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: the dashboard's browser tests need it. Install it with ` +
        '`apt-get install -y chromium` (or set CHROMIUM_PATH).',
    );
  }
  mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * Every CSP violation of a page, reported as a console error (the browser's own message may be terser). A string,
 * not a function: a transpiled function may call helpers that do not exist in the page.
 */
const REPORT_VIOLATIONS = `document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation: ' + e.effectiveDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' +
    (e.sourceFile || document.URL) + ':' + e.lineNumber);
});`;

export interface Person {
  context: BrowserContext;
  /** The first tab. */
  page: Page;
  /** Console errors, page errors and CSP violations of every tab so far. */
  problems: string[];
  /** Runs `step`, during which console errors matching `expected` are the point (a 403 page, say): at least one must occur. */
  expectingErrors(expected: RegExp, step: () => Promise<unknown>): Promise<void>;
  /** Fails the test on any problem; closes the context. */
  close(): Promise<void>;
}

/**
 * A fresh browser context, as a person's browser: no request interception (so Chromium fetches its favicon and
 * whatever else it wants), and every console error, page error and CSP violation of any of its tabs recorded.
 */
export async function openPerson(browser: Browser, baseURL: string): Promise<Person> {
  const context = await browser.newContext({ baseURL, viewport: { width: 1400, height: 900 } });
  context.setDefaultTimeout(WAIT_MS);
  context.setDefaultNavigationTimeout(NAVIGATION_MS);
  await context.addInitScript({ content: REPORT_VIOLATIONS });
  const problems: string[] = [];
  let allowed: { re: RegExp; seen: number } | undefined;
  const record = (what: string) => {
    if (allowed?.re.test(what)) allowed.seen++;
    else problems.push(what);
  };
  const watch = (page: Page) => {
    page.on('console', (msg) => {
      if (msg.type() === 'error') record(`console error on ${page.url()}: ${msg.text()}`);
    });
    page.on('pageerror', (err) => record(`page error on ${page.url()}: ${err.message}`));
  };
  context.on('page', watch);
  const page = await context.newPage();
  return {
    context,
    page,
    problems,
    async expectingErrors(expected, step) {
      allowed = { re: expected, seen: 0 };
      try {
        await step();
        await expect.poll(() => allowed!.seen, { timeout: WAIT_MS, interval: 100 }).toBeGreaterThan(0);
      } finally {
        allowed = undefined;
      }
    },
    async close() {
      try {
        expect(problems, 'console errors, page errors and CSP violations').toEqual([]);
      } finally {
        await context.close();
      }
    },
  };
}

/** Waits (generously) until the locator is visible, and returns it. */
export async function visible(locator: Locator): Promise<Locator> {
  await locator.first().waitFor({ state: 'visible', timeout: WAIT_MS });
  return locator;
}

/** Waits (generously) until the locator matches `n` elements. */
export async function count(locator: Locator, n: number): Promise<void> {
  await expect.poll(() => locator.count(), { timeout: WAIT_MS, interval: 200 }).toBe(n);
}

export async function screenshot(page: Page, name: string) {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Fills and sends the login form of the page already open; waits until it has left the login page. */
export async function submitLogin(page: Page, user: string, password: string) {
  await visible(page.locator('input[name=username]'));
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', password);
  const [answer] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/login', {
      timeout: NAVIGATION_MS,
    }),
    page.click('form.bp-login button[type=submit]'),
  ]);
  if (answer.status() !== 303) {
    const error = await page
      .getByTestId('login-error')
      .textContent({ timeout: WAIT_MS })
      .catch(() => '');
    throw new Error(`the login form was answered ${answer.status()}, not 303: ${error}`);
  }
  await page.waitForURL((u) => !u.pathname.startsWith('/login'), { timeout: NAVIGATION_MS });
}

export interface Served {
  method: string;
  url: string;
  status: number;
  location?: string;
}

/** Every request the server answers, as the server saw it (the browser's own favicon fetch included). */
export function recordRequests(server: Server): Served[] {
  const seen: Served[] = [];
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    res.on('finish', () => {
      const location = res.getHeader('location');
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        status: res.statusCode,
        ...(location ? { location: String(location) } : {}),
      });
    });
  });
  return seen;
}

/**
 * Chromium for one describe block, launched once, and what its tests open on it: the dashboard on a loopback port
 * (with the requests it served), and a fresh person per test whose console errors, page errors and CSP violations
 * fail the test (a failure leaves a screenshot named after `label`). Each test fails on its own when Chromium is
 * missing: a failed hook would only mark them skipped.
 */
export function useBrowser(t: ReturnType<typeof useDashboardTest>, label: string) {
  let browser: Browser | undefined;
  let launchError: unknown;
  beforeAll(async () => {
    browser = await launchChromium().catch((err) => {
      launchError = err;
      return undefined;
    });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
  });

  return {
    async serve(): Promise<{ app: FastifyInstance; base: string; served: Served[] }> {
      if (!browser) throw launchError;
      const app = await t.app();
      await app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = app.server.address() as { port: number };
      return { app, base: `http://127.0.0.1:${port}`, served: recordRequests(app.server) };
    },

    async person(base: string, use: (p: Person) => Promise<void>): Promise<void> {
      const p = await openPerson(browser!, base);
      let failed = true;
      try {
        await use(p);
        failed = false;
      } finally {
        if (failed) await screenshot(p.page, `${label}-failed-${Date.now()}`).catch(() => {});
        await (failed ? p.context.close() : p.close());
      }
    },
  };
}
