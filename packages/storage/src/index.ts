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
export { S3Storage, type S3StorageOptions } from './s3-storage.ts';
export { assertKey, type ObjectInfo, type OpenedObject, type StagedObject, type Storage } from './storage.ts';
