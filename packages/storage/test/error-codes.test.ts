import { undocumentedCodes } from '@bullpen/test-utils';
import { describe, expect, it } from 'vitest';
import { StorageErrorCode } from '../src/index.ts';

describe('error codes', () => {
  it('are all in the README error-code table (they are public API)', () => {
    expect(undocumentedCodes(Object.values(StorageErrorCode))).toEqual([]);
  });
});
