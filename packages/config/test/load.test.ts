import { describe, expect, it } from 'vitest';
import { alertOptionsOf, ConfigError, parseConfig } from '../src/index.ts';

describe('parseConfig', () => {
  it('refuses a cluster config without a hash-tag prefix', () => {
    const env = { REDIS_URL: 'redis://127.0.0.1:7000', REDIS_CLUSTER_NODES: 'a:7000,b:7001,c:7002' };
    expect(() => parseConfig('redis', { ...env, BULLPEN_PREFIX: 'bullpen' })).toThrow(/hash tag/);
    expect(parseConfig('redis', { ...env, BULLPEN_PREFIX: '{bp}' }).REDIS_CLUSTER_NODES).toHaveLength(3);
  });

  it('applies defaults and coerces numbers and booleans', () => {
    const c = parseConfig('worker', { WORKER_CONCURRENCY: '8', REDIS_CHECK: 'false' });
    expect(c.WORKER_CONCURRENCY).toBe(8);
    expect(c.REDIS_CHECK).toBe(false);
    expect(c.BULLPEN_PREFIX).toBe('bullpen');
    expect(c.LEDGER_TTL_SECONDS).toBe(7 * 24 * 3600);
  });

  it('parses "false" as false and "1" as true', () => {
    expect(parseConfig('api', { CALLBACK_ALLOW_PRIVATE: 'false' }).CALLBACK_ALLOW_PRIVATE).toBe(false);
    expect(parseConfig('api', { CALLBACK_ALLOW_PRIVATE: '1' }).CALLBACK_ALLOW_PRIVATE).toBe(true);
  });

  it('lists every bad variable in one error', () => {
    let err: unknown;
    try {
      parseConfig('worker', { WORKER_CONCURRENCY: 'many', REDIS_URL: 'http://x', REDIS_CHECK: 'maybe' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as ConfigError).message;
    expect(msg).toContain('WORKER_CONCURRENCY');
    expect(msg).toContain('REDIS_URL');
    expect(msg).toContain('REDIS_CHECK');
    expect((err as ConfigError).problems).toHaveLength(3);
  });

  it('applies cross-field rules', () => {
    expect(() => parseConfig('redis', { REDIS_CLUSTER_NODES: '127.0.0.1:7000' })).toThrow(/hash tag/);
    expect(
      parseConfig('redis', { REDIS_CLUSTER_NODES: '127.0.0.1:7000', BULLPEN_PREFIX: '{bp}' }).REDIS_CLUSTER_NODES,
    ).toEqual(['127.0.0.1:7000']);
    expect(() => parseConfig('dashboard', {})).toThrow(/DASHBOARD_USERS/);
    expect(() => parseConfig('dashboard', { DASHBOARD_AUTH_DISABLED: 'true', NODE_ENV: 'production' })).toThrow(
      /not allowed in production/,
    );
    expect(() =>
      parseConfig('worker', { WORKER_LOCK_DURATION_MS: '2000', WORKER_STALLED_INTERVAL_MS: '5000' }),
    ).toThrow(/WORKER_STALLED_INTERVAL_MS/);
    expect(() => parseConfig('api', { UPLOAD_DEADLINE_MS: '60000', UPLOAD_TEMP_MAX_AGE_MS: '60000' })).toThrow(
      /UPLOAD_TEMP_MAX_AGE_MS/,
    );
  });

  it('reads the alert and tracing settings in every app, the secret required with an alert URL', () => {
    for (const slice of ['api', 'worker', 'dashboard'] as const) {
      const env = slice === 'dashboard' ? { DASHBOARD_AUTH_DISABLED: 'true' } : {};
      const c = parseConfig(slice, { ...env, ALERT_BACKLOG_SHARE: '0.5', QUEUE_MAX_BACKLOG: '100' });
      expect(c).toMatchObject({ ALERT_BACKLOG_SHARE: 0.5, ALERT_DEAD_LETTER_RATE: 10, QUEUE_MAX_BACKLOG: 100 });
      expect(c.OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
      expect(() => parseConfig(slice, { ...env, ALERT_WEBHOOK_URL: 'https://alerts.example.com/in' })).toThrow(
        /ALERT_WEBHOOK_SECRET: required when ALERT_WEBHOOK_URL is set/,
      );
    }
    expect(() => parseConfig('api', { ALERT_BACKLOG_SHARE: '1.5' })).toThrow(/ALERT_BACKLOG_SHARE/);
    expect(parseConfig('worker', {}).WORKER_METRICS_DATA_POINTS).toBe(10_080);
  });

  it('makes the alerts’ options from the configuration, the build falling back to the app’s version', () => {
    const c = parseConfig('worker', {
      ALERT_WEBHOOK_URL: 'https://alerts.example.com/in',
      ALERT_WEBHOOK_SECRET: 'sixteen-chars-or-more',
      QUEUE_MAX_BACKLOG: '500',
    });
    expect(alertOptionsOf(c, '0.1.0')).toEqual({
      prefix: 'bullpen',
      webhook: { url: 'https://alerts.example.com/in', secret: 'sixteen-chars-or-more' },
      windowSeconds: 3600,
      buildVersion: '0.1.0',
      backlogCap: 500,
      backlogShare: 0.8,
      noWorkerSeconds: 60,
      deadLetterRate: 10,
      checkIntervalMs: 15_000,
    });
    expect(alertOptionsOf(parseConfig('api', { BUILD_VERSION: 'v2' }), '0.1.0')).toMatchObject({ buildVersion: 'v2' });
    expect(alertOptionsOf(parseConfig('api', {}), '0.1.0')).not.toHaveProperty('webhook');
  });

  it('returns a frozen object', () => {
    expect(Object.isFrozen(parseConfig('redis', {}))).toBe(true);
  });
});
