export { createStorage, parseStorageUrl, type StorageLocation, type StorageSettings } from './create-storage.ts';
export {
  InvalidKeyError,
  ObjectNotFoundError,
  StorageDeniedError,
  StorageError,
  StorageErrorCode,
  StorageFullError,
  StorageUnavailableError,
} from './errors.ts';
export { LocalStorage } from './local-storage.ts';
// A type here: createStorage loads the class (and the AWS SDK) for an s3 URL only; `@bullpen/storage/s3` has it.
export type { S3Storage, S3StorageOptions } from './s3-storage.ts';
export { assertKey, type ObjectInfo, type OpenedObject, type StagedObject, type Storage } from './storage.ts';
