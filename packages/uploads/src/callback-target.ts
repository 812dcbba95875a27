import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';

// Loopback, private, link-local, carrier-grade NAT, multicast, reserved and documentation ranges:
// a callback must never reach into the network it runs in (SSRF).
const blockedV4 = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blockedV4.addSubnet(net, prefix, 'ipv4');
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail converted). */
function ipv6Groups(address: string): number[] {
  let text = address;
  const tail: number[] = [];
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    tail.push((a << 8) | b, (c << 8) | d);
    text = text.slice(0, dotted.index);
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const parse = (part: string) => (part ? part.split(':').map((h) => Number.parseInt(h, 16)) : []);
  const gap = text.indexOf('::');
  if (gap < 0) return [...parse(text), ...tail];
  const head = parse(text.slice(0, gap));
  const rest = parse(text.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - rest.length - tail.length).fill(0), ...rest, ...tail];
}

const v4Of = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;

/**
 * IPv6 under the same rules as IPv4: only global unicast (2000::/3) is public, less the documentation
 * (2001:db8::/32, 3fff::/20) and IETF protocol (2001::/23, Teredo among them) ranges; an address that embeds
 * an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::/96`,
 * 6to4 `2002::/16`) is as private as that address; the deprecated IPv4-compatible `::a.b.c.d` (`::/96`,
 * with `::` and `::1`), local NAT64 (`64:ff9b:1::/48`), unique-local `fc00::/7`, link-local `fe80::/10`,
 * site-local `fec0::/10` and multicast are never public.
 */
function isPrivateV6(address: string): boolean {
  const g = ipv6Groups(address);
  if (g.length !== 8 || g.some((n) => !Number.isInteger(n) || n < 0 || n > 0xffff)) return true;
  const zeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroUpTo(5) && g[5] === 0xffff) return blockedV4.check(v4Of(g[6]!, g[7]!), 'ipv4');
  if (zeroUpTo(4) && g[4] === 0xffff && g[5] === 0) return blockedV4.check(v4Of(g[6]!, g[7]!), 'ipv4');
  if (zeroUpTo(6)) return true;
  if (g[0] === 0x64 && g[1] === 0xff9b) {
    return g.slice(2, 6).every((x) => x === 0) ? blockedV4.check(v4Of(g[6]!, g[7]!), 'ipv4') : true;
  }
  if ((g[0]! & 0xe000) !== 0x2000) return true;
  if (g[0] === 0x2002) return blockedV4.check(v4Of(g[1]!, g[2]!), 'ipv4');
  if (g[0] === 0x2001 && (g[1]! < 0x200 || g[1] === 0xdb8)) return true;
  if (g[0] === 0x3fff && g[1]! < 0x1000) return true;
  return false;
}

/**
 * True for loopback, private, link-local and other non-public addresses, IPv4 or IPv6 (brackets and zone ids
 * allowed; see `isPrivateV6` for the IPv6 rules), and for anything that is not an IP address.
 */
export function isPrivateAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 4) return blockedV4.check(bare, 'ipv4');
  if (family === 6) return isPrivateV6(bare.toLowerCase());
  return true;
}

export type CallbackCheck = { ok: true; url: URL } | { ok: false; reason: string };

/**
 * Whether a callback URL may be called: http or https, no credentials, and (unless `allowPrivate`)
 * a host that resolves to public addresses only. Checked when the upload is accepted and again at
 * delivery time (with `privateSafeLookup`, so a DNS answer that changes in between is caught too).
 */
export async function checkCallbackTarget(raw: string, opts: { allowPrivate: boolean }): Promise<CallbackCheck> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'is not a URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, reason: 'must be http or https' };
  if (url.username || url.password) return { ok: false, reason: 'must not carry credentials' };
  if (opts.allowPrivate) return { ok: true, url };
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) {
    return isPrivateAddress(host)
      ? { ok: false, reason: 'points at a private or loopback address' }
      : { ok: true, url };
  }
  let addresses: LookupAddress[];
  try {
    addresses = await new Promise((resolve, reject) =>
      dnsLookup(host, { all: true }, (err, list) => (err ? reject(err) : resolve(list))),
    );
  } catch {
    return { ok: false, reason: 'has a host name that does not resolve' };
  }
  if (addresses.length === 0 || addresses.some((a) => isPrivateAddress(a.address))) {
    return { ok: false, reason: 'points at a private or loopback address' };
  }
  return { ok: true, url };
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for `http.request` that refuses private addresses at connect time, so the address that is
 * checked is the one connected to (no DNS-rebinding window).
 */
export function privateSafeLookup(
  hostname: string,
  options: { all?: boolean; family?: number | string },
  callback: LookupCallback,
): void {
  dnsLookup(hostname, { ...options, all: true } as { all: true }, (err, list) => {
    if (err) return callback(err, '');
    const bad = list.find((a) => isPrivateAddress(a.address));
    if (bad || list.length === 0) {
      const refused: NodeJS.ErrnoException = new Error(`${hostname} resolves to a private or loopback address`);
      refused.code = 'ECALLBACKPRIVATE';
      return callback(refused, '');
    }
    if (options.all) return callback(null, list);
    return callback(null, list[0]!.address, list[0]!.family);
  });
}
