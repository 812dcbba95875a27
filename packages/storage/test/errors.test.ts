import { existsSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromFsError } from '../src/errors.ts';
import { InvalidKeyError, ObjectNotFoundError, StorageError, StorageFullError } from '../src/index.ts';

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
});
