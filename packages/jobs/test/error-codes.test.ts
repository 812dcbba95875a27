import { undocumentedCodes } from '@bullpen/test-utils';
import { describe, expect, it } from 'vitest';
import { CliErrorCode } from '../src/cli/exit-codes.ts';
import { JOB_POSTPONED, JobErrorCode } from '../src/index.ts';

describe('error codes', () => {
  it('are all in the README error-code table (they are public API)', () => {
    expect(undocumentedCodes([...Object.values(JobErrorCode), ...Object.values(CliErrorCode), JOB_POSTPONED])).toEqual(
      [],
    );
  });
});
