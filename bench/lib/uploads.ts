import { Readable } from 'node:stream';
import { closeRedis, createProducer, createRedisConnection, type RedisClient } from '@bullpen/jobs';
import { LocalStorage } from '@bullpen/storage';
import { acceptUpload, registry, UploadRecords } from '@bullpen/uploads';

export interface Uploads {
  ids: string[];
  /** Lets the workers take the accepted uploads' jobs (the queue was paused while they were accepted). */
  release(): Promise<void>;
  close(): Promise<void>;
}

/**
 * What the API does for `count` accepted uploads (`acceptUpload`: the original stored, a queued record, the
 * job enqueued), with the queue paused: `release` then resumes it, so a run can be timed from that moment.
 */
export async function acceptUploads(
  url: string,
  prefix: string,
  dir: string,
  image: Buffer,
  meta: { width: number; height: number },
  count: number,
): Promise<Uploads> {
  const conn: RedisClient = createRedisConnection(url, 'producer');
  const producer = createProducer(registry, { connection: conn, prefix });
  const deps = { producer, records: new UploadRecords(conn, prefix), storage: new LocalStorage(dir) };
  const queue = producer.queue('images');
  await queue.pause();
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const { uploadId } = await acceptUpload(deps, {
      staged: await deps.storage.stage(Readable.from([image])),
      format: 'jpeg',
      sizes: [128, 512, 1024],
      probe: async () => meta,
    });
    ids.push(uploadId);
  }
  return {
    ids,
    release: () => queue.resume(),
    async close() {
      await producer.close();
      await closeRedis(conn);
    },
  };
}
