import { defineErrors, HttpError } from '@bullpen/http';

/**
 * Every error the API answers with: the common codes of `@bullpen/http` and the API's own, each with its HTTP
 * status and default message (public API, listed in the README). Answers look like
 * `{ "error": { "code", "message", "requestId" } }`, and never repeat anything of the request (its path,
 * headers, field names or values).
 */
export const apiErrors = defineErrors({
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
  IDEMPOTENCY_KEY_CONFLICT: { status: 409, message: 'This Idempotency-Key was used with a different request' },
  IDEMPOTENCY_KEY_IN_PROGRESS: {
    status: 409,
    message: 'A request with this Idempotency-Key is still being processed; retry shortly',
    retryAfterSeconds: 1,
  },
  SERVICE_OVERLOADED: { status: 503, message: 'The server is overloaded; retry later', retryAfterSeconds: 5 },
  NOT_READY: { status: 503, message: 'Not ready' },
});

export type ApiErrorCode = Parameters<typeof apiErrors.error>[0];

/** An error the API answers with on purpose: a code of `apiErrors`, with its status. */
export class ApiError extends HttpError {
  constructor(
    code: ApiErrorCode,
    message?: string,
    /** Extra response headers (Retry-After, ...). */
    headers: Record<string, string> = {},
    /** `cause`: what went wrong underneath, for the log only (never in the answer). */
    options?: { cause?: unknown },
  ) {
    const made = apiErrors.error(code, message, headers, options);
    super(code, made.statusCode, made.message, made.headers, options);
  }
}
