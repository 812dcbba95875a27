import { createHash } from 'node:crypto';
import type { RedisClient } from '@bullpen/jobs';

/** The first answer to a request, kept for retries of the same Idempotency-Key: the upload it created. */
export interface StoredAnswer {
  uploadId: string;
  jobId: string;
}

export type Claim =
  | { kind: 'new' }
  | { kind: 'replay'; answer: StoredAnswer }
  | { kind: 'conflict' }
  | { kind: 'in-progress' };

const VALID_KEY = /^[\x21-\x7e]{1,255}$/;

/** Whether a client's Idempotency-Key is acceptable (1-255 printable ASCII characters, no spaces). */
export const isValidIdempotencyKey = (key: string) => VALID_KEY.test(key);

/**
 * Idempotency-Key records in Redis, under the key prefix: the fingerprint of the first request (the file's
 * SHA-256 and the form fields) and, once it is answered, its answer. A retry with the same fingerprint gets
 * the stored answer; a different fingerprint is a conflict. Records live `ttlSeconds`.
 */
export class IdempotencyStore {
  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {}

  private key(scope: string, idempotencyKey: string): string {
    // Hashed: the client's key is user input and never becomes part of a Redis key as is.
    const digest = createHash('sha256').update(idempotencyKey).digest('hex');
    return `${this.prefix}:idem:${scope}:${digest}`;
  }

  /**
   * Claims the key for a request with this fingerprint. `new` means the caller must answer and then
   * `complete` (or `release` on failure); anything else is the answer already.
   */
  async claim(scope: string, idempotencyKey: string, fingerprint: string): Promise<Claim> {
    const key = this.key(scope, idempotencyKey);
    const created = await this.client.set(key, JSON.stringify({ fingerprint }), 'EX', this.ttlSeconds, 'NX');
    if (created === 'OK') return { kind: 'new' };
    const raw = await this.client.get(key);
    if (!raw) {
      // Released (the first request failed) between our SET and GET: try once more.
      const again = await this.client.set(key, JSON.stringify({ fingerprint }), 'EX', this.ttlSeconds, 'NX');
      return again === 'OK' ? { kind: 'new' } : { kind: 'in-progress' };
    }
    const record = JSON.parse(raw) as { fingerprint: string; answer?: StoredAnswer };
    if (record.fingerprint !== fingerprint) return { kind: 'conflict' };
    return record.answer ? { kind: 'replay', answer: record.answer } : { kind: 'in-progress' };
  }

  async complete(scope: string, idempotencyKey: string, fingerprint: string, answer: StoredAnswer): Promise<void> {
    await this.client.set(
      this.key(scope, idempotencyKey),
      JSON.stringify({ fingerprint, answer }),
      'EX',
      this.ttlSeconds,
    );
  }

  /** Forgets a claim whose request failed, so a retry can do the work. */
  async release(scope: string, idempotencyKey: string): Promise<void> {
    await this.client.del(this.key(scope, idempotencyKey));
  }
}
