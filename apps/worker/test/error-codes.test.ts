import { undocumentedCodes } from '@bullpen/test-utils';
import { describe, expect, it } from 'vitest';
import { WorkerErrorCode } from '../src/errors.ts';

describe('error codes', () => {
  it('are all in the README error-code table (they are public API)', () => {
    expect(undocumentedCodes(Object.values(WorkerErrorCode))).toEqual([]);
  });
});
