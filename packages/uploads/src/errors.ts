import { BullpenError } from '@bullpen/jobs';

/** Error codes of the upload domain (public API: the API answers with them, the README lists them). */
export const UploadErrorCode = {
  IDEMPOTENCY_KEY_CONFLICT: 'IDEMPOTENCY_KEY_CONFLICT',
  IDEMPOTENCY_KEY_IN_PROGRESS: 'IDEMPOTENCY_KEY_IN_PROGRESS',
} as const;
export type UploadErrorCode = (typeof UploadErrorCode)[keyof typeof UploadErrorCode];

/** The Idempotency-Key was used with a different request. */
export class IdempotencyConflictError extends BullpenError {
  constructor() {
    super(UploadErrorCode.IDEMPOTENCY_KEY_CONFLICT, 'This Idempotency-Key was used with a different request');
  }
}

/** A request with the same Idempotency-Key is still being worked on: retry after `retryAfterSeconds`. */
export class IdempotencyInProgressError extends BullpenError {
  readonly retryAfterSeconds = 1;
  constructor() {
    super(
      UploadErrorCode.IDEMPOTENCY_KEY_IN_PROGRESS,
      'A request with this Idempotency-Key is still being processed; retry shortly',
    );
  }
}
