import { BullpenError } from '@bullpen/jobs';

/** How an error code is answered: its HTTP status, a default message, and a Retry-After when it has one. */
export interface HttpErrorSpec {
  status: number;
  message: string;
  retryAfterSeconds?: number;
}

/**
 * Codes every Bullpen app answers alike: the framework's (a payload that does not fit, an unknown job, a
 * full or unavailable queue), the infrastructure's (Redis, storage) and HTTP's own.
 */
export const COMMON_HTTP_ERRORS = {
  JOB_PAYLOAD_INVALID: { status: 400, message: 'The payload does not fit the job' },
  JOB_UNKNOWN: { status: 404, message: 'No such job' },
  EVENT_UNKNOWN: { status: 404, message: 'No such event' },
  DEAD_LETTER_NOT_FOUND: { status: 404, message: 'No such dead letter' },
  QUEUE_FULL: { status: 503, message: 'Too much work is queued; retry later' },
  QUEUE_UNAVAILABLE: { status: 503, message: 'The queue is unavailable; retry later', retryAfterSeconds: 5 },
  REDIS_UNAVAILABLE: {
    status: 503,
    message: 'Redis is unavailable (down, unreachable or out of memory): nothing was changed; try again shortly',
    retryAfterSeconds: 5,
  },
  STORAGE_FULL: { status: 507, message: 'The storage is full; nothing was stored; retry later', retryAfterSeconds: 60 },
  STORAGE_UNAVAILABLE: { status: 503, message: 'The storage is unavailable; retry later', retryAfterSeconds: 5 },
  STORAGE_DENIED: { status: 503, message: 'The storage refuses the request: check its configuration' },
  REQUEST_INVALID: { status: 400, message: 'The request is invalid' },
  REQUEST_TOO_LARGE: { status: 413, message: 'The request body is too large' },
  REQUEST_URL_TOO_LONG: { status: 414, message: 'The URL is too long' },
  REQUEST_HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request did not arrive in time' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Unsupported Content-Type' },
  NOT_FOUND: { status: 404, message: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed' },
  SERVICE_STOPPING: {
    status: 503,
    message: 'The server is shutting down; retry on another connection',
    retryAfterSeconds: 1,
  },
  INTERNAL_ERROR: { status: 500, message: 'Internal server error' },
} as const satisfies Record<string, HttpErrorSpec>;

export type CommonErrorCode = keyof typeof COMMON_HTTP_ERRORS;

/** An error an app answers with on purpose: a code of its registry, the code's status, a message, headers. */
export class HttpError extends BullpenError {
  constructor(
    code: string,
    readonly statusCode: number,
    message: string,
    /** Extra response headers (Retry-After, ...). */
    readonly headers: Record<string, string> = {},
    /** `cause`: what went wrong underneath, for the log only (never in the answer). */
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** One app's error codes: the common ones and its own, each with its status and default message. */
export interface ErrorRegistry<C extends string> {
  readonly specs: Readonly<Record<C, HttpErrorSpec>>;
  has(code: string): code is C;
  /** The error to throw for `code` (its status and Retry-After from the registry). */
  error(code: C, message?: string, headers?: Record<string, string>, options?: { cause?: unknown }): HttpError;
}

/**
 * Builds an app's error registry (Fastify's error registry, as one table): the common codes plus the app's own.
 * Codes are public API: the README lists them.
 */
export function defineErrors<T extends Record<string, HttpErrorSpec>>(
  own: T,
): ErrorRegistry<Extract<keyof T, string> | CommonErrorCode> {
  type C = Extract<keyof T, string> | CommonErrorCode;
  const specs = { ...COMMON_HTTP_ERRORS, ...own } as Record<C, HttpErrorSpec>;
  return {
    specs,
    has: (code): code is C => Object.hasOwn(specs, code),
    error(code, message, headers = {}, options) {
      const spec = specs[code];
      const retry: Record<string, string> =
        spec.retryAfterSeconds !== undefined ? { 'retry-after': String(spec.retryAfterSeconds) } : {};
      return new HttpError(code, spec.status, message ?? spec.message, { ...retry, ...headers }, options);
    },
  };
}

/** The documented shape of every error answer. */
export interface ErrorBody {
  error: { code: string; message: string; requestId: string; issues?: unknown[] };
}

export function errorBody(code: string, message: string, requestId: string): ErrorBody {
  return { error: { code, message, requestId } };
}
