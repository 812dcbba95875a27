import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** scrypt cost parameters. N must be a power of two. */
export interface ScryptParams {
  /** CPU/memory cost. Default 16384 (2^14: about 16 MiB and 50 ms per check). */
  N: number;
  /** Block size. Default 8. */
  r: number;
  /** Parallelism. Default 1. */
  p: number;
}

export const DEFAULT_SCRYPT: ScryptParams = { N: 16384, r: 8, p: 1 };
const KEY_LENGTH = 32;
const MAX_N = 2 ** 20;

/**
 * The stored form is `scrypt.N.r.p.salt.key` (salt and key base64url): it holds neither `:` nor `,`
 * (the DASHBOARD_USERS separators) nor `$`, which shells and docker compose would interpolate.
 */
const FORMAT = /^scrypt\.(\d+)\.(\d+)\.(\d+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/;

function derive(password: string, salt: Buffer, params: ScryptParams, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      password.normalize('NFKC'),
      salt,
      length,
      { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

/** Hashes a password for DASHBOARD_USERS. */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  if (!Number.isInteger(Math.log2(params.N)) || params.N < 2 || params.N > MAX_N) {
    throw new RangeError('N must be a power of two, at most 2^20');
  }
  const salt = randomBytes(16);
  const key = await derive(password, salt, params, KEY_LENGTH);
  return `scrypt.${params.N}.${params.r}.${params.p}.${salt.toString('base64url')}.${key.toString('base64url')}`;
}

export function isPasswordHash(s: string): boolean {
  return FORMAT.test(s);
}

/** Checks a password against a stored hash in constant time; a malformed hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = FORMAT.exec(stored);
  if (!m) return false;
  const params = { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  if (!Number.isInteger(Math.log2(params.N)) || params.N > MAX_N || params.r < 1 || params.p < 1) return false;
  const salt = Buffer.from(m[4]!, 'base64url');
  const expected = Buffer.from(m[5]!, 'base64url');
  if (expected.length < 16) return false;
  try {
    const actual = await derive(password, salt, params, expected.length);
    return timingSafeEqual(actual, expected);
  } catch {
    return false;
  }
}
