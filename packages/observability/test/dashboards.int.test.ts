import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, makeImage, spawnTs, type TsProcess, useRedisTest, waitFor } from '@bullpen/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const DOCS = path.join(ROOT, 'docs');

/** Metric names a PromQL text refers to: selectors (`name{`, `name[`) and Bullpen's, Node's and process names. */
function metricNamesIn(promql: string): string[] {
  const names = new Set<string>();
  for (const m of promql.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{[]/g)) names.add(m[1]!);
  for (const m of promql.matchAll(/\b((?:bullpen|nodejs|process)_[a-z0-9_]+)\b/g)) names.add(m[1]!);
  return [...names];
}

/** The names a Prometheus text exposition offers: every sample's name and, for histograms, their series. */
function exposedNames(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      out.add(type[1]!);
      if (type[2] === 'histogram' || type[2] === 'summary') {
        for (const s of ['_bucket', '_sum', '_count']) out.add(`${type[1]}${s}`);
      }
    } else if (line && !line.startsWith('#')) {
      out.add(line.split(/[{\s]/, 1)[0]!);
    }
  }
  return out;
}

/** Every `expr` in a Grafana dashboard (panels, nested rows) and its template queries. */
function grafanaExpressions(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) grafanaExpressions(n, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if ((k === 'expr' || k === 'definition') && typeof v === 'string') out.push(v);
      else if (k === 'query' && typeof v === 'object' && v && typeof (v as { query?: unknown }).query === 'string') {
        out.push((v as { query: string }).query);
      } else grafanaExpressions(v, out);
    }
  }
  return out;
}

function multipart(fields: Record<string, string>, file: Buffer) {
  const b = `----bp${randomBytes(6).toString('hex')}`;
  const parts = Object.entries(fields).map(
    ([k, v]) => `--${b}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`,
  );
  const body = Buffer.concat([
    Buffer.from(parts.join('')),
    Buffer.from(
      `--${b}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`,
    ),
    file,
    Buffer.from(`\r\n--${b}--\r\n`),
  ]);
  return { body: new Uint8Array(body), headers: { 'content-type': `multipart/form-data; boundary=${b}` } };
}

describe('docs/grafana-dashboard.json and docs/prometheus-alerts.yml', () => {
  const t = useRedisTest();
  const children: TsProcess[] = [];
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => c.kill()));
    for (const c of cleanups.splice(0)) await c();
  });

  it('are well formed', () => {
    const dash = JSON.parse(readFileSync(path.join(DOCS, 'grafana-dashboard.json'), 'utf8'));
    const ids = dash.panels.map((p: { id: number }) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dash.panels) expect(p.gridPos).toMatchObject({ w: expect.any(Number), h: expect.any(Number) });
    const rules = parseYaml(readFileSync(path.join(DOCS, 'prometheus-alerts.yml'), 'utf8'));
    const all = rules.groups.flatMap((g: { rules: unknown[] }) => g.rules);
    expect(all.length).toBeGreaterThan(4);
    for (const r of all) {
      expect(r).toMatchObject({
        alert: expect.any(String),
        expr: expect.any(String),
        labels: { severity: expect.any(String) },
      });
      expect(r.annotations.summary).toEqual(expect.any(String));
    }
  });

  it('name only metrics that the api, the worker and the dashboard expose', { timeout: 240_000 }, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bullpen-metrics-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    // A callback that refuses: its webhook.deliver is dead-lettered (and alerted) at once.
    const hook = http.createServer((_req, res) => res.writeHead(410).end());
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => hook.close(r)));
    const callbackUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/gone`;

    const [apiPort, workerPort, dashPort] = [await freePort(), await freePort(), await freePort()];
    const env = {
      NODE_ENV: 'test',
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'warn',
      REDIS_URL: t.url,
      BULLPEN_PREFIX: t.prefix,
      STORAGE_DIR: dir,
      CALLBACK_ALLOW_PRIVATE: 'true',
      ALERT_CHECK_INTERVAL_MS: '0',
    };
    const app = (name: string, extra: Record<string, string>) => {
      const c = spawnTs(path.join(ROOT, `apps/${name}/src/main.ts`), {
        cwd: path.join(ROOT, `apps/${name}`),
        env: { ...env, ...extra },
      });
      children.push(c);
      return c;
    };
    app('api', { API_PORT: String(apiPort), API_MAX_EVENT_LOOP_DELAY_MS: '0' });
    app('worker', { WORKER_HTTP_PORT: String(workerPort) });
    app('dashboard', { DASHBOARD_PORT: String(dashPort), DASHBOARD_AUTH_DISABLED: 'true' });
    const urls = {
      api: `http://127.0.0.1:${apiPort}`,
      worker: `http://127.0.0.1:${workerPort}`,
      dashboard: `http://127.0.0.1:${dashPort}`,
    };
    for (const u of Object.values(urls)) {
      await waitFor(async () => (await fetch(`${u}/healthz`)).ok, 90_000, `${u} to answer`);
    }

    // Some jobs: an upload that completes and whose webhook is dead-lettered.
    const upload = multipart({ callbackUrl }, Buffer.from(await makeImage('jpeg', 300, 200)));
    const res = await fetch(`${urls.api}/uploads`, { method: 'POST', ...upload });
    expect(res.status).toBe(202);
    const { statusUrl } = (await res.json()) as { statusUrl: string };
    await waitFor(
      async () => ((await (await fetch(`${urls.api}${statusUrl}`)).json()) as { webhook?: string }).webhook === 'dead',
      120_000,
      'the upload done and its webhook dead',
    );

    const exposed = new Set<string>();
    for (const u of Object.values(urls)) {
      const m = await fetch(`${u}/metrics`);
      expect(m.status).toBe(200);
      for (const n of exposedNames(await m.text())) exposed.add(n);
    }

    const dash = JSON.parse(readFileSync(path.join(DOCS, 'grafana-dashboard.json'), 'utf8'));
    const rules = parseYaml(readFileSync(path.join(DOCS, 'prometheus-alerts.yml'), 'utf8'));
    const named = new Set([
      ...grafanaExpressions(dash).flatMap(metricNamesIn),
      ...rules.groups.flatMap((g: { rules: { expr: string }[] }) => g.rules.flatMap((r) => metricNamesIn(r.expr))),
    ]);
    expect(named.size).toBeGreaterThan(10);
    expect([...named].filter((n) => !exposed.has(n)).sort()).toEqual([]);
    // The series the panels need after jobs ran, with values, not only declared.
    const sample = async (u: string, re: RegExp) => re.test(await (await fetch(`${u}/metrics`)).text());
    expect(await sample(urls.worker, /^bullpen_jobs_completed_total\{queue="images",job="image.resize"\} 1$/m)).toBe(
      true,
    );
    expect(
      await sample(
        urls.worker,
        /^bullpen_jobs_dead_lettered_total\{queue="webhooks",job="webhook.deliver",code="WEBHOOK_REJECTED"\} 1$/m,
      ),
    ).toBe(true);
    expect(
      await sample(
        urls.worker,
        /^bullpen_alerts_fired_total\{kind="dead_letter.new_fingerprint",queue="webhooks"\} 1$/m,
      ),
    ).toBe(true);
    expect(await sample(urls.dashboard, /^bullpen_queue_workers\{queue="images"\} [1-9]/m)).toBe(true);
  });
});
