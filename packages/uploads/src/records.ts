import type { Cluster, Redis } from 'ioredis';

/**
 * Where an upload is:
 * - `queued`: stored and enqueued, no worker has started it;
 * - `processing`: a worker is making the variants (`progress` says how far);
 * - `done`: every variant exists;
 * - `failed`: the last attempt failed and a retry is scheduled (`error` says why);
 * - `dead`: every attempt failed, or the failure was permanent: the job is in the dead-letter queue
 *   (a replay moves the upload back to `processing`);
 * - `cancelled`: `DELETE /uploads/:id` (nothing of it is stored any more), or an operator cancelled its job.
 */
export const UPLOAD_STATUSES = ['queued', 'processing', 'done', 'failed', 'dead', 'cancelled'] as const;
export type UploadStatus = (typeof UPLOAD_STATUSES)[number];

export const WEBHOOK_STATUSES = ['pending', 'delivered', 'dead'] as const;
export type WebhookStatus = (typeof WEBHOOK_STATUSES)[number];

export interface VariantInfo {
  /** `<width>.<format>`, e.g. `512.webp`. */
  name: string;
  key: string;
  format: string;
  width: number;
  height: number;
  bytes: number;
  /** Strong ETag (quoted), from the bytes. */
  etag: string;
}

export interface UploadRecord {
  uploadId: string;
  status: UploadStatus;
  /** 0-100. */
  progress: number;
  format: string;
  width: number;
  height: number;
  bytes: number;
  originalKey: string;
  sizes: number[];
  variants: VariantInfo[];
  jobId: string;
  requestId?: string;
  hasCallback: boolean;
  webhook?: WebhookStatus;
  error?: { code: string; message: string };
  createdAt: string;
  updatedAt: string;
}

type Client = Redis | Cluster;

// Updates only a record that exists (a late worker write never resurrects a deleted upload) and whose
// status is not one of ARGV[1] (a JSON list), e.g. a late failure never turns `done` into `failed`.
const UPDATE_IF = `
local status = redis.call('hget', KEYS[1], 'status')
if not status then return 0 end
for _, s in ipairs(cjson.decode(ARGV[1])) do
  if status == cjson.encode(s) then return 0 end
end
redis.call('hset', KEYS[1], unpack(ARGV, 2))
return 1`;

/** Upload status records: one Redis hash per upload under the key prefix, each field JSON. */
export class UploadRecords {
  constructor(
    private readonly client: Client,
    private readonly prefix: string,
  ) {}

  key(uploadId: string): string {
    return `${this.prefix}:upload:${uploadId}`;
  }

  async create(record: UploadRecord): Promise<void> {
    await this.client.hset(this.key(record.uploadId), encode(record));
  }

  async get(uploadId: string): Promise<UploadRecord | undefined> {
    const raw = await this.client.hgetall(this.key(uploadId));
    if (!raw.uploadId) return undefined;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(raw)) out[k] = JSON.parse(v);
    return out as unknown as UploadRecord;
  }

  /**
   * Sets the given fields (and `updatedAt`) when the record exists and its status is not in `unless`;
   * returns whether it did.
   */
  async update(
    uploadId: string,
    patch: Partial<Omit<UploadRecord, 'uploadId' | 'createdAt'>>,
    opts: { unless?: readonly UploadStatus[] } = {},
  ): Promise<boolean> {
    const fields = encode({ ...patch, updatedAt: new Date().toISOString() });
    const args = Object.entries(fields).flat();
    const n = await this.client.eval(UPDATE_IF, 1, this.key(uploadId), JSON.stringify(opts.unless ?? []), ...args);
    return n === 1;
  }

  /** Removes the error field (a retry or replay started). */
  async clearError(uploadId: string): Promise<void> {
    await this.client.hdel(this.key(uploadId), 'error');
  }

  async delete(uploadId: string): Promise<void> {
    await this.client.del(this.key(uploadId));
  }
}

function encode(obj: object): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = JSON.stringify(v);
  return out;
}
