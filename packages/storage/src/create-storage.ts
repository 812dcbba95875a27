import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalStorage } from './local-storage.ts';
import type { S3StorageOptions } from './s3-storage.ts';
import { assertKey, type Storage } from './storage.ts';

/** Where objects live, as `STORAGE_URL` (or `STORAGE_DIR`) says. */
export type StorageLocation = { kind: 'local'; dir: string } | { kind: 's3'; bucket: string; prefix: string };

/**
 * Reads a storage URL: `s3://<bucket>[/<prefix>]` or `file:///<absolute path>`. Credentials, endpoint and
 * region never go in the URL (they are the AWS variables'); a query, a port or a user is refused.
 */
export function parseStorageUrl(url: string): StorageLocation {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`STORAGE_URL "${url}" is not a URL (s3://bucket/prefix or file:///path)`);
  }
  // The URL parser resolves `.` and `..` segments away: refuse them before it does.
  if (/(^|\/)\.{1,2}(\/|$)/.test(url.replace(/^[a-z0-9]+:\/\//i, ''))) {
    throw new Error(`STORAGE_URL "${url}" must have no "." or ".." segments`);
  }
  if (u.search || u.hash || u.username || u.password || u.port) {
    throw new Error(`STORAGE_URL "${url}" must have no user, password, port, query or fragment`);
  }
  switch (u.protocol) {
    case 'file:':
      if (u.host) throw new Error(`STORAGE_URL "${url}": a file URL names a local path (file:///path)`);
      return { kind: 'local', dir: fileURLToPath(u) };
    case 's3:': {
      const prefix = decodeURIComponent(u.pathname).replace(/^\/+|\/+$/g, '');
      if (prefix) assertKey(prefix);
      return { kind: 's3', bucket: u.hostname, prefix };
    }
    default:
      throw new Error(`STORAGE_URL "${url}": the scheme must be s3: or file:`);
  }
}

/** The settings of the api and worker config slices that choose the storage. */
export interface StorageSettings {
  /** The local folder: the objects themselves, or (with an s3 URL) only the staging area `.tmp`. */
  STORAGE_DIR: string;
  /** `s3://bucket/prefix` or `file:///path`; unset: the folder `STORAGE_DIR`. */
  STORAGE_URL?: string | undefined;
  /** Path-style S3 requests (self-hosted S3-compatible servers). */
  STORAGE_S3_FORCE_PATH_STYLE?: boolean | undefined;
}

/**
 * The storage the config names: `LocalStorage` for a folder (`STORAGE_DIR`, or a `file://` URL), `S3Storage`
 * for `s3://bucket/prefix`, which stages uploads under `<STORAGE_DIR>/.tmp` on each host. `s3` may override
 * the S3 client's settings (tests); the AWS variables are read by the SDK itself. The AWS SDK is loaded only for
 * S3 (it adds about 10 MB and a tenth of a second to the start of an app on a local folder).
 */
export async function createStorage(config: StorageSettings, s3: Partial<S3StorageOptions> = {}): Promise<Storage> {
  const where: StorageLocation = config.STORAGE_URL
    ? parseStorageUrl(config.STORAGE_URL)
    : { kind: 'local', dir: config.STORAGE_DIR };
  switch (where.kind) {
    case 'local':
      return new LocalStorage(where.dir);
    case 's3': {
      const { S3Storage } = await import('./s3-storage.ts');
      return new S3Storage({
        bucket: where.bucket,
        prefix: where.prefix,
        tempDir: path.join(path.resolve(config.STORAGE_DIR), '.tmp'),
        forcePathStyle: config.STORAGE_S3_FORCE_PATH_STYLE ?? false,
        ...s3,
      });
    }
    default: {
      const never: never = where;
      throw new Error(`unknown storage ${JSON.stringify(never)}`);
    }
  }
}
