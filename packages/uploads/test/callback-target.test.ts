import { describe, expect, it } from 'vitest';
import { checkCallbackTarget, isPrivateAddress } from '../src/index.ts';

// [address, private?, why]
const TABLE: [string, boolean, string][] = [
  // IPv4
  ['127.0.0.1', true, 'loopback'],
  ['10.0.0.1', true, 'private'],
  ['172.16.5.4', true, 'private'],
  ['192.168.1.1', true, 'private'],
  ['169.254.169.254', true, 'link-local (cloud metadata)'],
  ['100.64.0.1', true, 'carrier-grade NAT'],
  ['0.0.0.0', true, 'this network'],
  ['192.0.2.7', true, 'documentation'],
  ['192.88.99.1', true, '6to4 relay anycast'],
  ['224.0.0.1', true, 'multicast'],
  ['255.255.255.255', true, 'broadcast'],
  ['93.184.216.34', false, 'public'],
  ['8.8.8.8', false, 'public'],
  // IPv6 of its own
  ['::1', true, 'loopback'],
  ['[::1]', true, 'loopback, bracketed'],
  ['::', true, 'unspecified'],
  ['fd00::1', true, 'unique local'],
  ['fc00::1', true, 'unique local'],
  ['fe80::1', true, 'link-local'],
  ['fe80::1%eth0', true, 'link-local with a zone'],
  ['fec0::1', true, 'site-local (deprecated)'],
  ['feff::1', true, 'site-local (deprecated), end of the range'],
  ['ff02::1', true, 'multicast'],
  ['100::1', true, 'discard'],
  ['2001:db8::1', true, 'documentation'],
  ['3fff::1', true, 'documentation (RFC 9637)'],
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', true, 'Teredo'],
  ['2001:2::1', true, 'benchmarking'],
  ['4000::1', true, 'outside global unicast'],
  ['2606:4700:4700::1111', false, 'public'],
  ['2a00:1450:4001:80b::200e', false, 'public'],
  ['[2606:4700::1111]', false, 'public, bracketed'],
  // IPv6 carrying an IPv4 address
  ['::ffff:127.0.0.1', true, 'IPv4-mapped loopback'],
  ['::ffff:7f00:1', true, 'IPv4-mapped loopback, hex (as the URL parser writes it)'],
  ['::ffff:10.1.2.3', true, 'IPv4-mapped private'],
  ['::ffff:8.8.8.8', false, 'IPv4-mapped public'],
  ['::ffff:0:127.0.0.1', true, 'IPv4-translated loopback'],
  ['::7f00:1', true, 'IPv4-compatible loopback'],
  ['::127.0.0.1', true, 'IPv4-compatible loopback, dotted'],
  ['::a00:1', true, 'IPv4-compatible private'],
  ['::8.8.8.8', true, 'IPv4-compatible (deprecated, never routed)'],
  ['2002:7f00:1::', true, '6to4 of a loopback'],
  ['2002:c0a8:101::1', true, '6to4 of 192.168.1.1'],
  ['2002:a9fe:a9fe::1', true, '6to4 of the metadata address'],
  ['2002:808:808::1', false, '6to4 of a public address'],
  ['64:ff9b::7f00:1', true, 'NAT64 of a loopback'],
  ['64:ff9b::10.0.0.1', true, 'NAT64 of a private address, dotted'],
  ['64:ff9b::a9fe:a9fe', true, 'NAT64 of the metadata address'],
  ['64:ff9b::808:808', false, 'NAT64 of a public address'],
  ['64:ff9b:1::a00:1', true, 'local-use NAT64'],
  // not addresses
  ['localhost', true, 'a name'],
  ['', true, 'empty'],
];

describe('callback targets (issue 10, defect 7)', () => {
  it.each(TABLE)('%s is private: %s (%s)', (address, expected) => {
    expect(isPrivateAddress(address)).toBe(expected);
  });

  it('takes IPv6 literals like IPv4 ones, under the same rules', async () => {
    for (const [url, allowPrivate, ok] of [
      ['http://[2606:4700:4700::1111]:8080/hook', false, true],
      ['https://[2a00:1450:4001:80b::200e]/hook', false, true],
      ['http://[::1]:9/hook', false, false],
      ['http://[::1]:9/hook', true, true],
      ['http://[::ffff:127.0.0.1]/hook', false, false],
      ['http://[::7f00:1]/hook', false, false],
      ['http://[2002:a9fe:a9fe::1]/hook', false, false],
      ['http://[64:ff9b::a9fe:a9fe]/hook', false, false],
      ['http://[fec0::1]/hook', false, false],
      ['http://8.8.8.8/x', false, true],
      ['http://127.0.0.1:9/x', false, false],
      ['http://127.0.0.1:9/x', true, true],
    ] as const) {
      expect(await checkCallbackTarget(url, { allowPrivate }), `${url} allowPrivate=${allowPrivate}`).toMatchObject({
        ok,
      });
    }
  });

  it('refuses non-http schemes, credentials and private host names unless allowed', async () => {
    expect(await checkCallbackTarget('ftp://8.8.8.8/x', { allowPrivate: false })).toMatchObject({ ok: false });
    expect(await checkCallbackTarget('http://user:pw@8.8.8.8/x', { allowPrivate: false })).toMatchObject({ ok: false });
    expect(await checkCallbackTarget('http://localhost:9/x', { allowPrivate: false })).toMatchObject({ ok: false });
  });
});
