import { describe, expect, it } from 'vitest';
import { registry, WEBHOOK_MAX_PER_HOST, webhookDeliver } from '../src/index.ts';

describe('the upload catalog', () => {
  it('caps webhook deliveries per destination host (port included), not per URL', () => {
    const key = webhookDeliver.concurrencyKey!;
    const body = { event: 'upload.completed', subjectId: 'u1', body: {} };
    expect(key({ ...body, url: 'https://hooks.example.com/a?x=1' })).toBe('hooks.example.com');
    expect(key({ ...body, url: 'https://hooks.example.com/b' })).toBe('hooks.example.com');
    expect(key({ ...body, url: 'http://hooks.example.com:8080/a' })).toBe('hooks.example.com:8080');
    expect(webhookDeliver.maxPerKey).toBe(WEBHOOK_MAX_PER_HOST);
    expect(registry.jobs['image.resize'].concurrencyKey).toBeUndefined();
  });
});
