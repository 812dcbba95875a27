import { createHash } from 'node:crypto';
import type { RedisClient } from '@bullpen/jobs';

const WINDOW_SECONDS = 60;

/**
 * Counts failed logins per client IP and per user name in one-minute windows, in Redis so that every
 * dashboard process shares the count. Over `max` failures in either, logins are refused until the window ends.
 */
export class LoginLimiter {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly max: number,
  ) {}

  private keys(ip: string, user: string): string[] {
    const h = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 32);
    return [
      `${this.prefix}:dashboard:login-fail:ip:${h(ip)}`,
      `${this.prefix}:dashboard:login-fail:user:${h(user.toLowerCase())}`,
    ];
  }

  /** Seconds until another try is allowed, or 0 when it is allowed now. */
  async blockedFor(ip: string, user: string): Promise<number> {
    const keys = this.keys(ip, user);
    const counts = await Promise.all(keys.map((k) => this.redis.get(k)));
    let wait = 0;
    for (let i = 0; i < keys.length; i++) {
      if (Number(counts[i] ?? 0) >= this.max) wait = Math.max(wait, Math.max(1, await this.redis.ttl(keys[i]!)));
    }
    return wait;
  }

  async fail(ip: string, user: string): Promise<void> {
    for (const k of this.keys(ip, user)) {
      const n = await this.redis.incr(k);
      if (n === 1) await this.redis.expire(k, WINDOW_SECONDS);
    }
  }
}
