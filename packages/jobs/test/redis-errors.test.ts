import { describe, expect, it } from 'vitest';
import { isRedisUnavailable } from '../src/index.ts';

function replyError(message: string) {
  return Object.assign(new Error(message), { name: 'ReplyError' });
}

describe('isRedisUnavailable', () => {
  it.each([
    ['out of memory', replyError("OOM command not allowed when used memory > 'maxmemory'.")],
    ['loading', replyError('LOADING Redis is loading the dataset in memory')],
    ['a read-only replica', replyError("READONLY You can't write against a read only replica.")],
    ['a cluster without quorum', replyError('CLUSTERDOWN The cluster is down')],
    ['a busy script', replyError('BUSY Redis is busy running a script.')],
    [
      'retries spent',
      Object.assign(new Error('Reached the max retries per request limit (which is 3).'), {
        name: 'MaxRetriesPerRequestError',
      }),
    ],
    ['a closed connection', new Error('Connection is closed.')],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })],
    ['a timeout', new Error('Command timed out')],
    ['the offline queue off', new Error("Stream isn't writeable and enableOfflineQueue options is false")],
    [
      'a cluster that lost every node',
      Object.assign(new Error('Failed to refresh slots cache.'), {
        name: 'ClusterAllFailedError',
      }),
    ],
    ['a wrapped cause', new Error('session lookup failed', { cause: new Error('Connection is closed.') })],
    [
      'an aborted MULTI',
      Object.assign(replyError('EXECABORT Transaction discarded because of previous errors.'), {
        previousErrors: [replyError("OOM command not allowed when used memory > 'maxmemory'.")],
      }),
    ],
  ])('says yes to %s', (_what, err) => {
    expect(isRedisUnavailable(err)).toBe(true);
  });

  it.each([
    ['a wrong type', replyError('WRONGTYPE Operation against a key holding the wrong kind of value')],
    ['a syntax error', replyError('ERR syntax error')],
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'x')")],
    ['a message that only mentions memory', new Error('the OOM killer took the worker')],
    ['no error at all', undefined],
    ['a string', 'Connection is closed.'],
  ])('says no to %s', (_what, err) => {
    expect(isRedisUnavailable(err)).toBe(false);
  });
});
