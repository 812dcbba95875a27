import { describe, expect, it } from 'vitest';
import { checkCallbackTarget, isPrivateAddress } from '../src/index.ts';

describe('callback targets', () => {
  it('tells private, loopback and reserved addresses from public ones', () => {
    for (const a of [
      '127.0.0.1',
      '10.0.0.1',
      '172.16.5.4',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      'fd00::1',
      'fe80::1',
      '::ffff:127.0.0.1',
      '[::1]',
    ]) {
      expect(isPrivateAddress(a), a).toBe(true);
    }
    for (const a of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8']) {
      expect(isPrivateAddress(a), a).toBe(false);
    }
  });

  it('refuses non-http schemes, credentials and private hosts unless allowed', async () => {
    expect(await checkCallbackTarget('ftp://8.8.8.8/x', { allowPrivate: false })).toMatchObject({ ok: false });
    expect(await checkCallbackTarget('http://user:pw@8.8.8.8/x', { allowPrivate: false })).toMatchObject({ ok: false });
    expect(await checkCallbackTarget('http://127.0.0.1:9/x', { allowPrivate: false })).toMatchObject({ ok: false });
    expect(await checkCallbackTarget('http://localhost:9/x', { allowPrivate: false })).toMatchObject({ ok: false });
    expect(await checkCallbackTarget('http://8.8.8.8/x', { allowPrivate: false })).toMatchObject({ ok: true });
    expect(await checkCallbackTarget('http://127.0.0.1:9/x', { allowPrivate: true })).toMatchObject({ ok: true });
  });
});
