import { createHash, randomBytes } from 'node:crypto';
import type { RedisClient } from '@bullpen/jobs';

/** The first answer to a request, kept for retries of the same Idempotency-Key: the upload it created. */
export interface StoredAnswer {
  uploadId: string;
  jobId: string;
}

/**
 * A claim on a key by the request working on it: a short lease that it renews while it works, so that a
 * request whose process dies leaves the key free again within seconds, not for the answer's 24 hours.
 */
export interface IdempotencyLease {
  /**
   * Renews the lease now and says whether the key is still this request's (false: it expired and another
   * request holds it; nothing may be stored then). Throws when Redis fails.
   */
  confirm(): Promise<boolean>;
  /** Stores the answer (kept the store's `ttlSeconds`) unless another request holds the key; stops renewing. */
  complete(answer: StoredAnswer): Promise<void>;
  /** Forgets the claim when it is still this request's, so a retry can do the work; stops renewing. Never throws. */
  release(): Promise<void>;
}

export type Claim =
  | { kind: 'new'; lease: IdempotencyLease }
  | { kind: 'replay'; answer: StoredAnswer }
  | { kind: 'conflict' }
  | { kind: 'in-progress' };

interface StoredRecord {
  fingerprint: string;
  /** The request holding the lease (a random token), until the answer is stored. */
  owner?: string;
  answer?: StoredAnswer;
}

const VALID_KEY = /^[\x21-\x7e]{1,255}$/;

/** Whether a client's Idempotency-Key is acceptable (1-255 printable ASCII characters, no spaces). */
export const isValidIdempotencyKey = (key: string) => VALID_KEY.test(key);

// KEYS[1] the record; ARGV[1] the owner token. Each acts only while the claim is the owner's.
const OWNED = `
local raw = redis.call('get', KEYS[1])
local owned = false
if raw then
  local ok, rec = pcall(cjson.decode, raw)
  owned = ok and type(rec) == 'table' and rec.owner == ARGV[1]
end`;
/** ARGV[2] the claim record, ARGV[3] the lease in ms: extends it, or takes the key again when it expired unclaimed. */
const RENEW = `${OWNED}
if owned then return redis.call('pexpire', KEYS[1], ARGV[3]) end
if not raw then
  redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`;
/** ARGV[2] the answer record, ARGV[3] its TTL in seconds. */
const COMPLETE = `${OWNED}
if owned or not raw then
  redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0`;
const RELEASE = `${OWNED}
if owned then return redis.call('del', KEYS[1]) end
return 0`;

/**
 * Idempotency-Key records in Redis, under the key prefix: the fingerprint of the first request (the file's
 * SHA-256 and the form fields) and, once it is answered, its answer. A retry with the same fingerprint gets
 * the stored answer; a different fingerprint is a conflict.
 *
 * While the first request works, its claim lives `leaseMs` and is renewed every third of that; only the
 * stored answer lives `ttlSeconds`. A request whose process is killed mid-way thus blocks its key for at
 * most `leaseMs`, after which a retry does the work.
 */
export class IdempotencyStore {
  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
    /** How long an in-progress claim lives without renewal, in ms. Default 10 s. */
    private readonly leaseMs = 10_000,
  ) {}

  private key(scope: string, idempotencyKey: string): string {
    // Hashed: the client's key is user input and never becomes part of a Redis key as is.
    const digest = createHash('sha256').update(idempotencyKey).digest('hex');
    return `${this.prefix}:idem:${scope}:${digest}`;
  }

  /**
   * Claims the key for a request with this fingerprint. `new` comes with the lease the caller must end
   * with `complete` (or `release` on failure); anything else is the answer already.
   */
  async claim(scope: string, idempotencyKey: string, fingerprint: string): Promise<Claim> {
    const key = this.key(scope, idempotencyKey);
    const owner = randomBytes(12).toString('base64url');
    const claimRecord = JSON.stringify({ fingerprint, owner } satisfies StoredRecord);
    const take = async () => (await this.client.set(key, claimRecord, 'PX', this.leaseMs, 'NX')) === 'OK';
    if (await take()) return { kind: 'new', lease: this.lease(key, owner, fingerprint, claimRecord) };
    const raw = await this.client.get(key);
    if (!raw) {
      // Released or expired between our SET and GET: try once more.
      return (await take())
        ? { kind: 'new', lease: this.lease(key, owner, fingerprint, claimRecord) }
        : { kind: 'in-progress' };
    }
    const record = JSON.parse(raw) as StoredRecord;
    if (record.fingerprint !== fingerprint) return { kind: 'conflict' };
    return record.answer ? { kind: 'replay', answer: record.answer } : { kind: 'in-progress' };
  }

  private lease(key: string, owner: string, fingerprint: string, claimRecord: string): IdempotencyLease {
    const { client, leaseMs, ttlSeconds } = this;
    let lost = false;
    const stop = () => clearInterval(timer);
    const renew = async () => {
      const held = (await client.eval(RENEW, 1, key, owner, claimRecord, String(leaseMs))) === 1;
      if (!held) {
        lost = true;
        stop();
      }
      return held;
    };
    // Renewed while the request works. A renewal that fails (Redis down) is tried again at the next tick; the
    // caller's `confirm` before anything is stored decides.
    const timer = setInterval(() => void renew().catch(() => {}), Math.max(100, Math.floor(leaseMs / 3)));
    timer.unref();
    return {
      async confirm() {
        if (lost) return false;
        return renew();
      },
      async complete(answer) {
        stop();
        const record = JSON.stringify({ fingerprint, answer } satisfies StoredRecord);
        await client.eval(COMPLETE, 1, key, owner, record, String(ttlSeconds));
      },
      async release() {
        stop();
        await client.eval(RELEASE, 1, key, owner).catch(() => {});
      },
    };
  }
}
