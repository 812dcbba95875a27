export { LocalStorage } from './local-storage.ts';
export {
  assertKey,
  InvalidKeyError,
  type ObjectInfo,
  ObjectNotFoundError,
  type StagedObject,
  type Storage,
} from './storage.ts';
