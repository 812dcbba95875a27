import { StorageDeniedError, StorageError, StorageUnavailableError } from './errors.ts';

/** What the AWS SDK puts on the errors it throws (service errors and network failures alike). */
interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

/** No HTTP answer at all: the endpoint is down, unreachable, or does not answer in time. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** Answers S3 gives when it is busy or failing: retrying later helps. */
const TRANSIENT_NAMES = new Set(['SlowDown', 'ServiceUnavailable', 'InternalError', 'RequestTimeout', 'Throttling']);
/** Answers that no retry changes: the credentials, the bucket or the region are wrong. */
const DENIED_NAMES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'NoSuchBucket',
  'PermanentRedirect',
  'AuthorizationHeaderMalformed',
  'AllAccessDisabled',
  'AccountProblem',
]);

/** Is this the SDK saying that the object (or, for HEAD, possibly the bucket) does not exist? */
export function isS3NotFound(err: unknown): boolean {
  const e = err as SdkError;
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound';
}

/**
 * An SDK error as a storage error with a stable code: no answer, a 5xx or throttling is
 * `STORAGE_UNAVAILABLE`; a refusal that no retry changes is `STORAGE_DENIED`. Anything else (a bug,
 * an abort) is returned as it is.
 */
export function fromS3Error(err: unknown, what: string): unknown {
  if (err instanceof StorageError) return err;
  const e = (err ?? {}) as SdkError;
  const status = e.$metadata?.httpStatusCode;
  const name = e.name ?? '';
  const attempts = e.$metadata?.attempts ? ` after ${e.$metadata.attempts} attempt(s)` : '';
  if (status === undefined) {
    if (NETWORK_CODES.has(e.code ?? '') || name === 'TimeoutError') {
      return new StorageUnavailableError(
        `The object store did not answer ${what}${attempts}: ${e.code ?? name} ${e.message ?? ''}`.trim(),
        { cause: err },
      );
    }
    return err;
  }
  if (status >= 500 || status === 429 || TRANSIENT_NAMES.has(name)) {
    return new StorageUnavailableError(`The object store failed ${what}${attempts}: ${status} ${name}`, {
      cause: err,
    });
  }
  if (status === 401 || status === 403 || status === 301 || DENIED_NAMES.has(name)) {
    return new StorageDeniedError(
      `The object store refused ${what}: ${status} ${name} (check the bucket, region and credentials)`,
      { cause: err },
    );
  }
  return err;
}
