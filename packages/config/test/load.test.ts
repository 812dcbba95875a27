import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../src/index.ts';

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

  it('returns a frozen object', () => {
    expect(Object.isFrozen(parseConfig('redis', {}))).toBe(true);
  });
});
