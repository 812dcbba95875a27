export { uploadKeys, variantName } from './keys.ts';
export { LocalStorage } from './local-storage.ts';
export {
  assertKey,
  InvalidKeyError,
  type ObjectInfo,
  ObjectNotFoundError,
  type StagedObject,
  type Storage,
} from './storage.ts';
export {
  UPLOAD_STATUSES,
  type UploadRecord,
  UploadRecords,
  type UploadStatus,
  type VariantInfo,
  WEBHOOK_STATUSES,
  type WebhookStatus,
} from './upload-records.ts';
