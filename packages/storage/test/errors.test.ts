import { existsSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromFsError } from '../src/errors.ts';
import { InvalidKeyError, ObjectNotFoundError, StorageError, StorageFullError } from '../src/index.ts';
import { fromS3Error } from '../src/s3-errors.ts';

/** A real ENOSPC from the kernel where the machine has /dev/full (Linux), else one shaped like it. */
function diskFullError(): unknown {
  if (existsSync('/dev/full')) {
    try {
      writeFileSync('/dev/full', 'x');
    } catch (err) {
      return err;
    }
  }
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 });
}

describe('storage errors', () => {
  it('turns a full disk into STORAGE_FULL, keeping the cause', () => {
    const enospc = diskFullError();
    expect((enospc as NodeJS.ErrnoException).code).toBe('ENOSPC');
    const err = fromFsError(enospc, 'an upload');
    expect(err).toBeInstanceOf(StorageFullError);
    expect(err).toMatchObject({ code: 'STORAGE_FULL', cause: enospc });
    const quota = Object.assign(new Error('quota'), { code: 'EDQUOT' });
    expect(fromFsError(quota, 'x')).toMatchObject({ code: 'STORAGE_FULL' });
    const other = Object.assign(new Error('denied'), { code: 'EACCES' });
    expect(fromFsError(other, 'x')).toBe(other);
  });

  it('gives every storage error a code, a message and the StorageError base', () => {
    for (const err of [new ObjectNotFoundError('a/b'), new InvalidKeyError('../x'), new StorageFullError('full')]) {
      expect(err).toBeInstanceOf(StorageError);
      expect(err).toBeInstanceOf(Error);
      expect(err.code).toMatch(/^STORAGE_[A-Z_]+$/);
      expect(err.message).not.toBe('');
    }
  });

  it('sorts SDK failures into unavailable (retry) and denied (configuration), and leaves the rest alone', () => {
    const sdk = (name: string, status?: number, code?: string) =>
      Object.assign(new Error(name), { name, ...(code ? { code } : {}), $metadata: { httpStatusCode: status } });
    expect(fromS3Error(sdk('Error', undefined, 'ECONNREFUSED'), 'for x')).toMatchObject({
      code: 'STORAGE_UNAVAILABLE',
    });
    expect(fromS3Error(sdk('TimeoutError'), 'for x')).toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(fromS3Error(sdk('InternalError', 500), 'for x')).toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(fromS3Error(sdk('SlowDown', 503), 'for x')).toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(fromS3Error(sdk('AccessDenied', 403), 'for x')).toMatchObject({ code: 'STORAGE_DENIED' });
    expect(fromS3Error(sdk('NoSuchBucket', 404), 'for x')).toMatchObject({ code: 'STORAGE_DENIED' });
    expect(fromS3Error(sdk('PermanentRedirect', 301), 'for x')).toMatchObject({ code: 'STORAGE_DENIED' });
    const bug = new TypeError('not a function');
    expect(fromS3Error(bug, 'for x')).toBe(bug);
    const odd = sdk('InvalidArgument', 400);
    expect(fromS3Error(odd, 'for x')).toBe(odd);
  });
});
