export {
  type AcceptedUpload,
  type AcceptUploadDeps,
  acceptUpload,
  newUploadId,
  type UploadRequest,
} from './accept-upload.ts';
export { type CallbackCheck, checkCallbackTarget, isPrivateAddress, privateSafeLookup } from './callback-target.ts';
export { type CancelledUpload, type CancelUploadDeps, cancelUpload } from './cancel-upload.ts';
export { IdempotencyConflictError, IdempotencyInProgressError, UploadErrorCode } from './errors.ts';
export {
  type Claim,
  type IdempotencyLease,
  IdempotencyStore,
  isValidIdempotencyKey,
  type StoredAnswer,
} from './idempotency.ts';
export {
  type AppRegistry,
  IMAGE_FORMATS,
  type ImageFormat,
  imageResize,
  imageResizePayload,
  registry,
  VARIANT_WIDTHS,
  type VariantWidth,
  WEBHOOK_MAX_PER_HOST,
  webhookDeliver,
  webhookDeliverPayload,
} from './jobs.ts';
export { resizeJobId, uploadIdOf, uploadKeys, variantName } from './keys.ts';
export {
  UPLOAD_STATUSES,
  type UploadRecord,
  UploadRecords,
  type UploadStatus,
  type VariantInfo,
  WEBHOOK_STATUSES,
  type WebhookStatus,
} from './records.ts';
export { uploadCompletedWebhook, uploadFailedWebhook } from './webhooks.ts';
