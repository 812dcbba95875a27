import type { Readable } from 'node:stream';
import { InvalidKeyError } from './errors.ts';

/** What a stored object looks like from outside. */
export interface ObjectInfo {
  key: string;
  size: number;
  /** Last modification, in ms since the epoch. */
  mtimeMs: number;
  /**
   * An opaque, quoted entity tag of this version of the object: the same for every read while the object
   * is not rewritten, another one once it is (S3: the store's ETag; a local folder: made from the file's
   * identity, size and time, so every atomic rewrite changes it).
   */
  etag: string;
}

/** An object being read: its info, taken from the same read as the bytes, and the bytes as a stream. */
export interface OpenedObject {
  info: ObjectInfo;
  stream: Readable;
}

/**
 * Bytes received but not yet stored under a key: a local temporary file. Every upload is staged
 * first (streamed, counted, hashed, sniffed), then either committed under a server-made key or
 * discarded, so a refused upload leaves nothing behind.
 */
export interface StagedObject {
  /** Local path of the temporary file, for readers that want a path (sharp). */
  readonly path: string;
  /** Bytes written. */
  readonly size: number;
  /** SHA-256 of the bytes, hex. */
  readonly sha256: string;
  /** The first bytes (up to 64), for sniffing the type. */
  readonly head: Buffer;
  /**
   * The bytes whole, for a reader that checks them (the API's image check): kept in memory as they streamed in
   * when the file is small (up to 1 MiB), read back from the temporary file otherwise. Before `commit`.
   */
  bytes(): Promise<Buffer>;
  /**
   * Stores the bytes under `key` (atomically: a reader sees the whole object or nothing) and removes the
   * temporary file. On failure the temporary file stays until `discard`.
   */
  commit(key: string): Promise<void>;
  /** Deletes the temporary file. Never throws; safe to call twice. */
  discard(): Promise<void>;
}

/**
 * Where originals and variants live. Keys are made by the server (see `uploadKeys`), never taken from
 * user input; implementations refuse keys outside a safe alphabet (`InvalidKeyError`).
 *
 * Errors carry stable codes (see `errors.ts`): `STORAGE_NOT_FOUND`, `STORAGE_KEY_INVALID`,
 * `STORAGE_UNAVAILABLE` (an object store out of reach: transient), `STORAGE_DENIED` (credentials, bucket),
 * `STORAGE_FULL` (the local disk).
 */
export interface Storage {
  /** Streams `source` into a local temporary file (counted, hashed, its first bytes kept). */
  stage(source: Readable): Promise<StagedObject>;
  /** Writes `data` under `key` atomically: a reader sees the old object or the new one, never a part. */
  put(key: string, data: Buffer): Promise<void>;
  /** Reads an object whole. Throws `ObjectNotFoundError` when absent. */
  get(key: string): Promise<Buffer>;
  /** Streams an object with its info (ETag included). Throws `ObjectNotFoundError` when absent. */
  open(key: string): Promise<OpenedObject>;
  /** Streams an object. Throws `ObjectNotFoundError` when absent. */
  createReadStream(key: string): Promise<Readable>;
  /** Size, time and ETag of an object, or undefined when absent. */
  stat(key: string): Promise<ObjectInfo | undefined>;
  /** Deletes an object; absent is fine. */
  delete(key: string): Promise<void>;
  /** Deletes every object under `prefix/` (e.g. one upload). */
  deletePrefix(prefix: string): Promise<void>;
  /** Keys under `prefix/`, sorted. */
  list(prefix: string): Promise<string[]>;
  /**
   * Removes local temporary files (staged uploads) older than `olderThanMs` that a killed process left
   * behind. Returns how many.
   */
  sweepTemp(olderThanMs: number): Promise<number>;
}

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

/** Throws `InvalidKeyError` unless `key` is `seg/seg/...` of safe segments (no `.`/`..`, no leading dot). */
export function assertKey(key: string): void {
  const parts = key.split('/');
  if (parts.length > 8 || !parts.every((p) => SEGMENT.test(p) && p !== '.' && p !== '..')) {
    throw new InvalidKeyError(key);
  }
}
