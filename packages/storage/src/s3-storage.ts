import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ObjectNotFoundError, StorageDeniedError, StorageUnavailableError } from './errors.ts';
import { fromS3Error, isS3NotFound } from './s3-errors.ts';
import { TempFolder } from './staging.ts';
import { assertKey, type ObjectInfo, type OpenedObject, type StagedObject, type Storage } from './storage.ts';

export interface S3StorageOptions {
  /** The bucket (it must exist: Bullpen never creates or configures buckets). */
  bucket: string;
  /** Key prefix inside the bucket, `seg/seg` without slashes at the ends; '' (the default) for none. */
  prefix?: string;
  /** Local folder for staged uploads (the API probes a local file before committing it). */
  tempDir: string;
  /**
   * Path-style requests (`<endpoint>/<bucket>/<key>`) instead of virtual-hosted ones
   * (`<bucket>.<endpoint>/<key>`), as most self-hosted S3-compatible servers need. Default false.
   */
  forcePathStyle?: boolean;
  /**
   * Further S3Client settings, over the defaults. Tests pass `endpoint`, `region` and `credentials` here;
   * left unset, the SDK reads them from the standard AWS variables itself.
   */
  client?: S3ClientConfig;
  /** How long connecting may take, per attempt (ms). Default 5000. */
  connectTimeoutMs?: number;
  /** How long a connection may stay silent (no byte either way) before the attempt fails (ms). Default 30000. */
  socketTimeoutMs?: number;
  /** Keys per ListObjectsV2 page and DeleteObjects batch, 1-1000. Default 1000 (S3's maximum). */
  pageSize?: number;
  /**
   * Staged files larger than this are committed as a multipart upload of parts this size, each
   * retried on its own; smaller ones as one PUT. At least 5 MiB (S3's minimum part). Default 8 MiB.
   */
  partSize?: number;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const MIB = 1024 * 1024;

/**
 * An S3 bucket (AWS, or any S3-compatible server), so that API and workers on several hosts share
 * the uploads. Every write is one PUT (or one multipart upload, which S3 shows only once completed),
 * so a reader sees a whole object or none; bodies have a fixed length and the SDK's checksum, so a
 * transfer cut short is refused by the store rather than stored. Uploads are staged in a local
 * temporary folder first, like the local folder's.
 */
export class S3Storage implements Storage {
  readonly bucket: string;
  readonly prefix: string;
  readonly client: S3Client;
  private readonly temp: TempFolder;
  private readonly pageSize: number;
  private readonly partSize: number;

  constructor(opts: S3StorageOptions) {
    if (!BUCKET.test(opts.bucket)) throw new Error(`"${opts.bucket}" is not a valid S3 bucket name`);
    const prefix = opts.prefix ?? '';
    if (prefix) assertKey(prefix);
    this.bucket = opts.bucket;
    this.prefix = prefix;
    this.temp = new TempFolder(opts.tempDir);
    this.pageSize = Math.min(1000, Math.max(1, opts.pageSize ?? 1000));
    this.partSize = Math.max(5 * MIB, opts.partSize ?? 8 * MIB);
    // Endpoint (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL), region (AWS_REGION), credentials
    // (AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY, profiles, SSO, container and instance roles), retries
    // (AWS_MAX_ATTEMPTS) and checksums are not set here: the SDK's default providers read them from the
    // environment and the shared AWS config files, as AWS documents. Bullpen itself reads none of them.
    this.client = new S3Client({
      forcePathStyle: opts.forcePathStyle ?? false,
      requestHandler: {
        connectionTimeout: opts.connectTimeoutMs ?? 5000,
        socketTimeout: opts.socketTimeoutMs ?? 30_000,
      },
      ...opts.client,
    });
  }

  private objectKey(key: string): string {
    assertKey(key);
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  /** The key under which the bucket's listing shows `key` (prefix removed). */
  private storageKey(objectKey: string): string {
    return this.prefix ? objectKey.slice(this.prefix.length + 1) : objectKey;
  }

  private where(key: string): string {
    return `for "${key}" (s3://${this.bucket}/${this.prefix ? `${this.prefix}/` : ''}${key})`;
  }

  stage(source: Readable): Promise<StagedObject> {
    return this.temp.stage(source, (temp, key) => this.upload(temp, key).then(() => 'copied' as const));
  }

  /** Uploads a local file: one PUT when it fits in a part, else a multipart upload (each part retried alone). */
  private async upload(file: string, key: string): Promise<void> {
    const Key = this.objectKey(key);
    const body = createReadStream(file);
    try {
      await new Upload({
        client: this.client,
        params: { Bucket: this.bucket, Key, Body: body },
        partSize: this.partSize,
        queueSize: 2,
        leavePartsOnError: false,
      }).done();
    } catch (err) {
      throw fromS3Error(err, this.where(key));
    } finally {
      body.destroy();
    }
  }

  async put(key: string, data: Buffer): Promise<void> {
    const Key = this.objectKey(key);
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key, Body: data, ContentLength: data.length }),
      );
    } catch (err) {
      throw fromS3Error(err, this.where(key));
    }
  }

  private async getObject(key: string): Promise<GetObjectCommandOutput> {
    const Key = this.objectKey(key);
    try {
      return await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
    } catch (err) {
      if (isS3NotFound(err)) throw new ObjectNotFoundError(key, { cause: err });
      throw fromS3Error(err, this.where(key));
    }
  }

  async get(key: string): Promise<Buffer> {
    const out = await this.getObject(key);
    try {
      const bytes = await out.Body!.transformToByteArray();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (err) {
      throw fromS3Error(err, this.where(key));
    }
  }

  async open(key: string): Promise<OpenedObject> {
    const out = await this.getObject(key);
    return {
      info: {
        key,
        size: out.ContentLength ?? 0,
        mtimeMs: out.LastModified?.getTime() ?? 0,
        etag: out.ETag ?? '',
      },
      stream: out.Body as Readable,
    };
  }

  async createReadStream(key: string): Promise<Readable> {
    return (await this.open(key)).stream;
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const Key = this.objectKey(key);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
      return { key, size: out.ContentLength ?? 0, mtimeMs: out.LastModified?.getTime() ?? 0, etag: out.ETag ?? '' };
    } catch (err) {
      // A HEAD answer has no body: a missing bucket looks like a missing key here.
      if (isS3NotFound(err)) return undefined;
      throw fromS3Error(err, this.where(key));
    }
  }

  async delete(key: string): Promise<void> {
    const Key = this.objectKey(key);
    try {
      // S3 answers 204 whether or not the key existed.
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
    } catch (err) {
      throw fromS3Error(err, this.where(key));
    }
  }

  /** Every object key under `prefix/`, one ListObjectsV2 page at a time. */
  private async *pages(prefix: string): AsyncGenerator<string[]> {
    const Prefix = `${this.objectKey(prefix)}/`;
    let ContinuationToken: string | undefined;
    do {
      const page = await this.client
        .send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix, MaxKeys: this.pageSize, ContinuationToken }))
        .catch((err) => {
          throw fromS3Error(err, this.where(`${prefix}/`));
        });
      yield (page.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : []));
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  async deletePrefix(prefix: string): Promise<void> {
    for await (const keys of this.pages(prefix)) {
      if (keys.length === 0) continue;
      const out = await this.client
        .send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
          }),
        )
        .catch((err) => {
          throw fromS3Error(err, this.where(`${prefix}/`));
        });
      const failed = out.Errors ?? [];
      if (failed.length > 0) {
        const first = failed[0]!;
        const detail = `${failed.length} key(s) not deleted ${this.where(`${prefix}/`)}, e.g. "${first.Key}": ${first.Code}`;
        throw first.Code === 'AccessDenied' ? new StorageDeniedError(detail) : new StorageUnavailableError(detail);
      }
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    for await (const keys of this.pages(prefix)) for (const k of keys) out.push(this.storageKey(k));
    return out.sort();
  }

  sweepTemp(olderThanMs: number): Promise<number> {
    return this.temp.sweep(olderThanMs);
  }

  /** Closes the client's connections. */
  close(): void {
    this.client.destroy();
  }
}
