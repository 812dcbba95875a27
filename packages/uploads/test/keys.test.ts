import { describe, expect, it } from 'vitest';
import { uploadIdOf } from '../src/index.ts';

describe('uploadIdOf', () => {
  it('names the upload of a resize job and of an upload webhook, and nothing else', () => {
    expect(uploadIdOf({ uploadId: 'upl_12345678' })).toBe('upl_12345678');
    expect(uploadIdOf({ event: 'upload.completed', subjectId: 'upl_1' })).toBe('upl_1');
    expect(uploadIdOf({ event: 'invoice.paid', subjectId: 'inv_1' })).toBeUndefined();
    expect(uploadIdOf(null)).toBeUndefined();
  });
});
