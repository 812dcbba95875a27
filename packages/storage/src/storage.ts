import type { Readable } from 'node:stream';

/** What a stored object looks like from outside. */
export interface ObjectInfo {
  key: string;
  size: number;
  /** Last modification, in ms since the epoch. */
  mtimeMs: number;
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
  /** Moves the bytes under `key` (atomically: a reader sees the whole object or nothing). */
  commit(key: string): Promise<void>;
  /** Deletes the temporary file. Never throws; safe to call twice. */
  discard(): Promise<void>;
}

/**
 * Where originals and variants live. Keys are made by the server (see `uploadKeys`), never taken from
 * user input; implementations refuse keys outside a safe alphabet.
 */
export interface Storage {
  /** Streams `source` into a temporary file. */
  stage(source: Readable): Promise<StagedObject>;
  /** Writes `data` under `key` atomically (temporary file, then rename). */
  put(key: string, data: Buffer): Promise<void>;
  /** Reads an object whole. Throws `ObjectNotFoundError` when absent. */
  get(key: string): Promise<Buffer>;
  /** Streams an object. Throws `ObjectNotFoundError` when absent. */
  createReadStream(key: string): Promise<Readable>;
  /** Size and time of an object, or undefined when absent. */
  stat(key: string): Promise<ObjectInfo | undefined>;
  /** Deletes an object; absent is fine. */
  delete(key: string): Promise<void>;
  /** Deletes every object under `prefix/` (e.g. one upload). */
  deletePrefix(prefix: string): Promise<void>;
  /** Keys under `prefix/`, sorted. */
  list(prefix: string): Promise<string[]>;
  /** Removes temporary files older than `olderThanMs` that a killed process left behind. Returns how many. */
  sweepTemp(olderThanMs: number): Promise<number>;
}

/** No object under that key. */
export class ObjectNotFoundError extends Error {
  readonly code = 'STORAGE_NOT_FOUND';
  constructor(readonly key: string) {
    super(`No object "${key}"`);
    this.name = 'ObjectNotFoundError';
  }
}

/** A key outside the safe alphabet (a bug: keys are made by the server). */
export class InvalidKeyError extends Error {
  readonly code = 'STORAGE_KEY_INVALID';
  constructor(readonly key: string) {
    super(`Invalid storage key "${key}"`);
    this.name = 'InvalidKeyError';
  }
}

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

/** Throws `InvalidKeyError` unless `key` is `seg/seg/...` of safe segments (no `.`/`..`, no leading dot). */
export function assertKey(key: string): void {
  const parts = key.split('/');
  if (parts.length > 8 || !parts.every((p) => SEGMENT.test(p) && p !== '.' && p !== '..')) {
    throw new InvalidKeyError(key);
  }
}
