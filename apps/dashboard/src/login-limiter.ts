import { createHash } from 'node:crypto';
import type { RedisClient } from '@bullpen/jobs';

/** The fast limit: failed logins of one user name from one client. */
export const PAIR_WINDOW_SECONDS = 60;
/** The slow limit: failed logins of one user name from every client that has not logged in as that user before. */
export const USER_WINDOW_SECONDS = 15 * 60;
/** The slow budget is this many times the fast one. */
export const USER_BUDGET_FACTOR = 4;

/** Who is trying to log in, as the limiter tells clients apart. */
export interface LoginAttempt {
  /** The user name given (whether or not such a user exists: the answer must not tell). */
  user: string;
  /** The client's address. */
  ip: string;
  /** A browser that has logged in as this user before: the id of its device token (see `checkDeviceToken`). */
  device?: string;
}

export type Reservation =
  | { ok: true /** Gives the attempt back: call it when the password was right. */; release(): Promise<void> }
  | { ok: false; retryAfterSeconds: number };

/**
 * Reserves one attempt in every counter, or none: returns 0, or the milliseconds until the first full counter
 * empties. One script, so parallel attempts can never all pass the check before any of them is counted.
 * KEYS: the counters; ARGV: per counter its maximum and its window in ms.
 */
const RESERVE = `
for i = 1, #KEYS do
  local n = tonumber(redis.call('GET', KEYS[i]) or '0')
  if n >= tonumber(ARGV[2 * i - 1]) then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then return tonumber(ARGV[2 * i]) end
    return ttl
  end
end
for i = 1, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[2 * i]) end
end
return 0`;

/** Gives back a reservation (the password was right): decrements each counter still there; an empty one goes. */
const RELEASE = `
for i = 1, #KEYS do
  local n = tonumber(redis.call('GET', KEYS[i]) or '0')
  if n > 1 then redis.call('DECR', KEYS[i]) elseif n == 1 then redis.call('DEL', KEYS[i]) end
end
return 0`;

/**
 * Limits password guessing without handing attackers a lockout (the README states the policy):
 * - per user name and client (the browser's device token when it has logged in as that user before, else the
 *   client IP): `max` failed attempts per minute;
 * - per user name, over every client without a device token for it: `USER_BUDGET_FACTOR × max` per 15 minutes,
 *   so that guessing from many addresses stays slow too, while a browser that has logged in as that user keeps
 *   its own budget and cannot be locked out by anyone else's failures.
 * There is no limit per IP across user names: behind a proxy every user shares one address.
 *
 * Every attempt (form, JSON and Basic) is reserved before its password is checked and given back when the password
 * was right. A Redis that refuses the write (down, out of memory) fails the attempt (503), never lets it through
 * uncounted. Counters live in Redis, so every dashboard process shares them.
 */
export class LoginLimiter {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    /** Failed attempts per minute per user name and client. */
    readonly max: number,
  ) {}

  /** Counters an attempt is counted in, with their maximum and window. */
  counters(a: LoginAttempt): { key: string; max: number; windowMs: number }[] {
    const h = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 32);
    const user = a.user.toLowerCase();
    const client = a.device ? `device:${a.device}` : `ip:${a.ip}`;
    const base = `${this.prefix}:dashboard:login`;
    const pair = {
      key: `${base}:pair:${h(`${user}\n${client}`)}`,
      max: this.max,
      windowMs: PAIR_WINDOW_SECONDS * 1000,
    };
    if (a.device) return [pair];
    return [
      pair,
      { key: `${base}:user:${h(user)}`, max: this.max * USER_BUDGET_FACTOR, windowMs: USER_WINDOW_SECONDS * 1000 },
    ];
  }

  /** Reserves an attempt before its password is checked. Throws when Redis cannot count it. */
  async reserve(a: LoginAttempt): Promise<Reservation> {
    const counters = this.counters(a);
    const keys = counters.map((c) => c.key);
    const args = counters.flatMap((c) => [c.max, c.windowMs]);
    const waitMs = Number(await this.redis.eval(RESERVE, keys.length, ...keys, ...args));
    if (waitMs > 0) return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
    return {
      ok: true,
      release: async () => {
        await this.redis.eval(RELEASE, keys.length, ...keys);
      },
    };
  }

  /**
   * Seconds until this client may try again, or 0: for credentials already checked (a cached Basic credential),
   * which must not outlive a limit that refuses the same credentials uncached. Reads only.
   */
  async blockedFor(a: LoginAttempt): Promise<number> {
    const counters = this.counters(a);
    const counts = await this.redis.mget(...counters.map((c) => c.key));
    let waitMs = 0;
    for (const [i, c] of counters.entries()) {
      if (Number(counts[i] ?? 0) >= c.max) waitMs = Math.max(waitMs, (await this.redis.pttl(c.key)) || c.windowMs);
    }
    return waitMs > 0 ? Math.max(1, Math.ceil(waitMs / 1000)) : 0;
  }
}
