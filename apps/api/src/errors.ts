/**
 * Every error the API answers with: a stable code (public API, listed in the README), its HTTP status
 * and a default message. Answers look like `{ "error": { "code", "message", "requestId" } }`, and never repeat
 * anything of the request (its path, headers, field names or values).
 */
export const API_ERRORS = {
  UPLOAD_NOT_MULTIPART: { status: 415, message: 'Send the image as multipart/form-data with one file field' },
  UPLOAD_EMPTY: { status: 400, message: 'The request carries no file, or the file is empty' },
  UPLOAD_TOO_MANY_FILES: { status: 400, message: 'Send exactly one file per upload' },
  UPLOAD_TOO_LARGE: { status: 413, message: 'The file is larger than the upload limit' },
  UPLOAD_UNSUPPORTED_TYPE: { status: 415, message: 'The file is not a JPEG, PNG, WebP, GIF, AVIF or TIFF image' },
  UPLOAD_CORRUPT: { status: 422, message: 'The image cannot be decoded' },
  UPLOAD_TOO_MANY_PIXELS: { status: 422, message: 'The image has more pixels than allowed' },
  UPLOAD_FIELD_INVALID: { status: 400, message: 'A form field is invalid' },
  UPLOAD_TIMEOUT: { status: 408, message: 'The upload stalled, was too slow, or took too long' },
  IDEMPOTENCY_KEY_INVALID: { status: 400, message: 'Idempotency-Key must be 1-255 printable ASCII characters' },
  IDEMPOTENCY_KEY_CONFLICT: {
    status: 409,
    message: 'This Idempotency-Key was used with a different request',
  },
  IDEMPOTENCY_KEY_IN_PROGRESS: {
    status: 409,
    message: 'A request with this Idempotency-Key is still being processed; retry shortly',
  },
  QUEUE_FULL: { status: 503, message: 'Too much work is queued; retry later' },
  QUEUE_UNAVAILABLE: { status: 503, message: 'The queue is unavailable; retry later' },
  REDIS_UNAVAILABLE: { status: 503, message: 'The data store is unavailable; retry later' },
  STORAGE_FULL: { status: 507, message: 'The storage is full; nothing was stored; retry later' },
  SERVICE_OVERLOADED: { status: 503, message: 'The server is overloaded; retry later' },
  SERVICE_STOPPING: { status: 503, message: 'The server is shutting down; retry on another connection' },
  NOT_READY: { status: 503, message: 'Not ready' },
  REQUEST_INVALID: { status: 400, message: 'The request is invalid' },
  REQUEST_TOO_LARGE: { status: 413, message: 'The request body is too large' },
  REQUEST_URL_TOO_LONG: { status: 414, message: 'The URL is too long' },
  REQUEST_HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request did not arrive in time' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Unsupported Content-Type' },
  NOT_FOUND: { status: 404, message: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed' },
  INTERNAL_ERROR: { status: 500, message: 'Internal server error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ApiErrorCode = keyof typeof API_ERRORS;

export const isApiErrorCode = (code: string): code is ApiErrorCode => Object.hasOwn(API_ERRORS, code);

/** An error the API answers with on purpose. */
export class ApiError extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: ApiErrorCode,
    message?: string,
    /** Extra response headers (Retry-After, ...). */
    readonly headers: Record<string, string> = {},
    /** `cause`: what went wrong underneath, for the log only (never in the answer). */
    options?: { cause?: unknown },
  ) {
    super(message ?? API_ERRORS[code].message, options);
    this.name = 'ApiError';
    this.statusCode = API_ERRORS[code].status;
  }
}

export interface ErrorBody {
  error: { code: string; message: string; requestId: string };
}

export function errorBody(code: string, message: string, requestId: string): ErrorBody {
  return { error: { code, message, requestId } };
}
