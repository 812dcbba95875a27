import type { RedisClient } from './connection.ts';
import { frameworkKeys } from './keys.ts';

export type AuditAction =
  | 'replay'
  | 'discard'
  | 'edit'
  | 'retry'
  | 'clean'
  | 'pause'
  | 'resume'
  | 'promote'
  | 'remove'
  | 'cancel';

export interface AuditEntry {
  /** Stream id, also a timestamp. */
  id: string;
  at: string;
  actor: string;
  action: AuditAction;
  /** Job or letter ids concerned. */
  ids: string[];
  queue?: string;
  outcome: 'ok' | 'partial' | 'refused' | 'failed' | 'dry-run';
  detail?: Record<string, unknown>;
}

const MAX_ENTRIES = 100_000;

/** The audit log: an append-only Redis stream of who did what, when, to which jobs, with what outcome. */
export class AuditLog {
  private readonly key: string;
  constructor(
    private readonly client: RedisClient,
    prefix: string,
  ) {
    this.key = frameworkKeys(prefix).audit;
  }

  async append(entry: Omit<AuditEntry, 'id' | 'at'>): Promise<string> {
    const at = new Date().toISOString();
    const fields = [
      'at',
      at,
      'actor',
      entry.actor,
      'action',
      entry.action,
      'ids',
      JSON.stringify(entry.ids),
      'outcome',
      entry.outcome,
    ];
    if (entry.queue) fields.push('queue', entry.queue);
    if (entry.detail) fields.push('detail', JSON.stringify(entry.detail));
    const id = await this.client.xadd(this.key, 'MAXLEN', '~', String(MAX_ENTRIES), '*', ...fields);
    return id ?? '';
  }

  /** Newest first; `before` is a stream id to page from. */
  async list(opts: { limit?: number; before?: string } = {}): Promise<AuditEntry[]> {
    const end = opts.before ? `(${opts.before}` : '+';
    const rows = await this.client.xrevrange(this.key, end, '-', 'COUNT', opts.limit ?? 100);
    return rows.map(([id, flat]) => {
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
      return {
        id,
        at: f.at ?? '',
        actor: f.actor ?? '',
        action: (f.action ?? 'replay') as AuditAction,
        ids: f.ids ? (JSON.parse(f.ids) as string[]) : [],
        ...(f.queue ? { queue: f.queue } : {}),
        outcome: (f.outcome ?? 'ok') as AuditEntry['outcome'],
        ...(f.detail ? { detail: JSON.parse(f.detail) as Record<string, unknown> } : {}),
      };
    });
  }
}
