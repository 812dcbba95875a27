import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhookSignature } from '../src/index.ts';

describe('webhook signatures', () => {
  const secret = 'a-secret-of-sixteen-or-more';
  const body = '{"id":"1","event":"alert.fired"}';

  it('signs the timestamp, a dot and the body with HMAC-SHA256 and verifies it, refusing other bodies, secrets and old timestamps', () => {
    const now = 1_800_000_000;
    const header = signWebhook(secret, body, now);
    expect(header).toMatch(/^t=1800000000,v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(secret, header, body, { now })).toBe(true);
    expect(verifyWebhookSignature(secret, header, `${body} `, { now })).toBe(false);
    expect(verifyWebhookSignature('another-secret-entirely', header, body, { now })).toBe(false);
    expect(verifyWebhookSignature(secret, header, body, { now: now + 301 })).toBe(false);
    expect(verifyWebhookSignature(secret, undefined, body, { now })).toBe(false);
    expect(verifyWebhookSignature(secret, 't=x,v1=00', body, { now })).toBe(false);
  });
});
