import { BullpenError, PermanentJobError } from '@bullpen/jobs';

/**
 * The worker's own error codes (public API: they show in dead letters, upload status and the README).
 * Permanent ones are `PermanentJobError`s (dead-lettered at once); the others are retried with backoff.
 */
export const WorkerErrorCode = {
  /** The endpoint answered a 4xx other than 408/429: permanent. */
  WEBHOOK_REJECTED: 'WEBHOOK_REJECTED',
  /** The callback URL points at a private or loopback address (or no longer resolves): permanent. */
  WEBHOOK_TARGET_FORBIDDEN: 'WEBHOOK_TARGET_FORBIDDEN',
  /** The endpoint answered 5xx, 408 or 429, or redirected: retried. */
  WEBHOOK_HTTP_ERROR: 'WEBHOOK_HTTP_ERROR',
  /** No answer: connection refused/reset, DNS failure: retried. */
  WEBHOOK_NETWORK_ERROR: 'WEBHOOK_NETWORK_ERROR',
  /** No answer within WEBHOOK_TIMEOUT_MS: retried. */
  WEBHOOK_TIMEOUT: 'WEBHOOK_TIMEOUT',
  /** The original of an upload is gone from storage: permanent. */
  IMAGE_ORIGINAL_MISSING: 'IMAGE_ORIGINAL_MISSING',
  /** The original cannot be decoded (truncated, damaged data, undefined tables): permanent. */
  IMAGE_CORRUPT: 'IMAGE_CORRUPT',
} as const;
export type WorkerErrorCode = (typeof WorkerErrorCode)[keyof typeof WorkerErrorCode];

export class WebhookRejectedError extends PermanentJobError {
  constructor(readonly status: number) {
    super(WorkerErrorCode.WEBHOOK_REJECTED, `Webhook endpoint answered ${status}`);
  }
}

export class WebhookTargetForbiddenError extends PermanentJobError {
  constructor(reason: string) {
    super(WorkerErrorCode.WEBHOOK_TARGET_FORBIDDEN, `Webhook target refused: ${reason}`);
  }
}

/** A delivery that may succeed later. */
export class WebhookRetryableError extends BullpenError {}

/**
 * The original cannot be decoded and never will: dead-lettered on the first attempt. The message is the
 * worker's own (it reaches the upload's status); libvips' words are the `cause`, for the logs and the letter.
 */
export class ImageCorruptError extends PermanentJobError {
  constructor(cause: unknown) {
    super(WorkerErrorCode.IMAGE_CORRUPT, 'The image data is truncated or damaged and cannot be decoded', { cause });
  }
}

export class ImageOriginalMissingError extends PermanentJobError {
  constructor(key: string) {
    super(WorkerErrorCode.IMAGE_ORIGINAL_MISSING, `The original "${key}" is missing from storage`);
  }
}
