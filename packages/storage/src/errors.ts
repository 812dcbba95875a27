import { BullpenError } from '@bullpen/jobs';

/** The stable codes of storage errors (public API, listed in the README). */
export const StorageErrorCode = {
  /** No object under that key. */
  STORAGE_NOT_FOUND: 'STORAGE_NOT_FOUND',
  /** A key outside the safe alphabet (a bug: keys are made by the server). */
  STORAGE_KEY_INVALID: 'STORAGE_KEY_INVALID',
  /** The object store cannot be reached, timed out, or answered 5xx / throttled: transient, retry later. */
  STORAGE_UNAVAILABLE: 'STORAGE_UNAVAILABLE',
  /** The store answered but refuses (credentials, missing bucket, wrong region): fix the configuration. */
  STORAGE_DENIED: 'STORAGE_DENIED',
  /** The local disk (storage folder or staging folder) is full. */
  STORAGE_FULL: 'STORAGE_FULL',
} as const;
export type StorageErrorCode = (typeof StorageErrorCode)[keyof typeof StorageErrorCode];

/** Base of every storage error: a framework error with a stable storage `code` and the underlying `cause`. */
export class StorageError extends BullpenError {
  declare readonly code: StorageErrorCode;
  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** No object under that key. */
export class ObjectNotFoundError extends StorageError {
  declare readonly code: 'STORAGE_NOT_FOUND';
  constructor(
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super('STORAGE_NOT_FOUND', `No object "${key}"`, options);
  }
}

/** A key outside the safe alphabet (a bug: keys are made by the server). */
export class InvalidKeyError extends StorageError {
  declare readonly code: 'STORAGE_KEY_INVALID';
  constructor(readonly key: string) {
    super('STORAGE_KEY_INVALID', `Invalid storage key "${key}"`);
  }
}

/** The object store cannot be reached or is failing for now; retrying later may succeed. */
export class StorageUnavailableError extends StorageError {
  declare readonly code: 'STORAGE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORAGE_UNAVAILABLE', message, options);
  }
}

/** The object store refuses the request as configured (credentials, bucket, region). */
export class StorageDeniedError extends StorageError {
  declare readonly code: 'STORAGE_DENIED';
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORAGE_DENIED', message, options);
  }
}

/** No space left on the local disk (or a quota reached). */
export class StorageFullError extends StorageError {
  declare readonly code: 'STORAGE_FULL';
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORAGE_FULL', message, options);
  }
}

const DISK_FULL = new Set(['ENOSPC', 'EDQUOT']);

/** A local file-system error as a storage error where it has a code of its own (disk full); otherwise as is. */
export function fromFsError(err: unknown, what: string): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code && DISK_FULL.has(code))
    return new StorageFullError(`No space left to write ${what} (${code})`, { cause: err });
  return err;
}
