import { randomBytes } from 'node:crypto';
import {
  type AppRegistry,
  closeRedis,
  createProducer,
  createRedisConnection,
  type Producer,
  type RedisClient,
  registry,
} from '@bullpen/jobs';
import { LocalStorage, type UploadRecord, UploadRecords, uploadKeys } from '@bullpen/storage';

export interface Uploads {
  ids: string[];
  producer: Producer<AppRegistry>;
  /** Enqueues `image.resize` for every stored upload, in one bulk. */
  enqueueAll(): Promise<void>;
  close(): Promise<void>;
}

/**
 * What the API leaves behind for an accepted upload, without the jobs: the original in storage and a queued
 * status record. `enqueueAll` then adds the jobs, so a run can be timed from the enqueue.
 */
export async function storeUploads(
  url: string,
  prefix: string,
  dir: string,
  image: Buffer,
  meta: { width: number; height: number },
  count: number,
): Promise<Uploads> {
  const conn: RedisClient = createRedisConnection(url, 'producer');
  const producer = createProducer(registry, { connection: conn, prefix });
  const records = new UploadRecords(conn, prefix);
  const storage = new LocalStorage(dir);
  const ids = Array.from({ length: count }, () => randomBytes(16).toString('base64url'));
  const sizes = [128, 512, 1024] as const;
  for (const uploadId of ids) {
    const originalKey = uploadKeys.original(uploadId);
    await storage.put(originalKey, image);
    const now = new Date().toISOString();
    const record: UploadRecord = {
      uploadId,
      status: 'queued',
      progress: 0,
      format: 'jpeg',
      width: meta.width,
      height: meta.height,
      bytes: image.length,
      originalKey,
      sizes: [...sizes],
      variants: [],
      jobId: `image.resize#${uploadId}`,
      hasCallback: false,
      createdAt: now,
      updatedAt: now,
    };
    await records.create(record);
  }
  return {
    ids,
    producer,
    async enqueueAll() {
      await producer.enqueueBulk(
        ids.map((uploadId) => ({
          name: 'image.resize' as const,
          payload: {
            uploadId,
            originalKey: uploadKeys.original(uploadId),
            format: 'jpeg' as const,
            width: meta.width,
            height: meta.height,
            sizes: [...sizes],
          },
        })),
      );
    },
    async close() {
      await producer.close();
      await closeRedis(conn);
    },
  };
}
