import {
  BullpenError,
  DeadLetterNotFoundError,
  JobPayloadInvalidError,
  QueueFullError,
  QueueUnavailableError,
} from '@bullpen/jobs';
import { describe, expect, it } from 'vitest';
import { defineErrors, describeError } from '../src/index.ts';

const errors = defineErrors({ THING_BROKEN: { status: 409, message: 'The thing is broken' } });
const answer = (err: unknown) => describeError(errors, err, 'req-1');

describe('one error registry for every app (issue 11)', () => {
  it('answers an app code with its status and message, in the documented shape', () => {
    expect(answer(errors.error('THING_BROKEN'))).toEqual({
      status: 409,
      headers: {},
      body: { error: { code: 'THING_BROKEN', message: 'The thing is broken', requestId: 'req-1' } },
      unexpected: false,
    });
  });

  it('maps framework errors by code, with their Retry-After, without echoing their messages', () => {
    const full = answer(new QueueFullError('images', 10, 10, 2500));
    expect([full.status, full.body.error.code, full.headers['retry-after']]).toEqual([503, 'QUEUE_FULL', '3']);
    const down = answer(new QueueUnavailableError('images', new Error('connect ECONNREFUSED 10.1.2.3:6379')));
    expect([down.status, down.body.error.code, down.headers['retry-after']]).toEqual([503, 'QUEUE_UNAVAILABLE', '5']);
    expect(down.body.error.message).not.toContain('10.1.2.3');
    const missing = answer(new DeadLetterNotFoundError('secret-id'));
    expect([missing.status, missing.body.error.message]).toEqual([404, 'No such dead letter']);
  });

  it('keeps the issues of a payload that does not fit', () => {
    const d = answer(new JobPayloadInvalidError('x.y', [{ code: 'custom', path: ['to'], message: 'bad', input: 1 }]));
    expect(d.status).toBe(400);
    expect(d.body.error.issues).toEqual([{ path: ['to'], message: 'bad', code: 'custom' }]);
  });

  it('answers a full disk 507 and any Redis failure 503, never 500', () => {
    const enospc = Object.assign(new Error('write failed'), { code: 'ENOSPC' });
    for (const err of [new BullpenError('STORAGE_FULL', 'no space', { cause: enospc }), enospc]) {
      expect([answer(err).status, answer(err).body.error.code]).toEqual([507, 'STORAGE_FULL']);
    }
    const oom = Object.assign(new Error("OOM command not allowed when used memory > 'maxmemory'."), {
      name: 'ReplyError',
    });
    const d = answer(oom);
    expect([d.status, d.body.error.code, d.headers['retry-after']]).toEqual([503, 'REDIS_UNAVAILABLE', '5']);
  });

  it("answers Fastify's client errors with fixed messages, and a bug as an unexpected 500", () => {
    const media = answer(
      Object.assign(new Error('Unsupported Media Type: text/evil'), {
        code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE',
        statusCode: 415,
      }),
    );
    expect([media.status, media.body.error.code, media.body.error.message]).toEqual([
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      'Unsupported Content-Type',
    ]);
    const params = answer(
      Object.assign(new Error('params/id must match'), {
        code: 'FST_ERR_VALIDATION',
        validationContext: 'params',
        statusCode: 400,
      }),
    );
    expect(params.status).toBe(404);
    const bug = answer(new TypeError("Cannot read properties of undefined (reading 'x')"));
    expect([bug.status, bug.body.error.code, bug.unexpected]).toEqual([500, 'INTERNAL_ERROR', true]);
    expect(bug.body.error.message).toBe('Internal server error');
  });
});
