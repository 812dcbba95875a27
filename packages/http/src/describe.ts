import { BullpenError, isDiskFull, isRedisUnavailable, JobPayloadInvalidError, QueueFullError } from '@bullpen/jobs';
import { type ErrorBody, type ErrorRegistry, HttpError } from './errors.ts';

/** How an error is answered. */
export interface DescribedError {
  status: number;
  headers: Record<string, string>;
  body: ErrorBody;
  /** The error said nothing the registry knows: a bug, to log with its stack. */
  unexpected: boolean;
}

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  validationContext?: string;
  message?: string;
}

/**
 * The answer to anything a route or hook threw, in the documented shape and echoing nothing of the request:
 * - an `HttpError` as it is;
 * - a framework error with a code of the registry (`QUEUE_FULL` with the cache's retry hint, a payload that does
 *   not fit with its issues, an unknown job, a missing letter...) with the code's status and message;
 * - a full disk as `STORAGE_FULL` (507), any Redis failure (down, timed out, out of retries, refusing writes)
 *   as `REDIS_UNAVAILABLE` (503), both with Retry-After;
 * - Fastify's own client errors (validation, Content-Type, body size, 404, 405) by code, with fixed messages;
 * - anything else as `INTERNAL_ERROR` (500, `unexpected`: log it).
 */
export function describeError<C extends string>(
  errors: ErrorRegistry<C>,
  thrown: unknown,
  requestId: string,
): DescribedError {
  const answer = (err: HttpError, extra: Partial<ErrorBody['error']> = {}): DescribedError => ({
    status: err.statusCode,
    headers: err.headers,
    body: { error: { code: err.code, message: err.message, requestId, ...extra } },
    unexpected: false,
  });
  if (thrown instanceof HttpError) return answer(thrown);
  if (thrown instanceof QueueFullError) {
    return answer(
      errors.error('QUEUE_FULL' as C, undefined, { 'retry-after': String(Math.ceil(thrown.retryAfterMs / 1000)) }),
    );
  }
  if (thrown instanceof JobPayloadInvalidError) {
    const issues = thrown.issues.map((i) => ({ path: i.path, message: i.message, code: i.code }));
    return answer(errors.error('JOB_PAYLOAD_INVALID' as C, thrown.message), { issues });
  }
  if (thrown instanceof BullpenError && errors.has(thrown.code)) {
    // The code's own message: a framework error's may name ids or addresses the client has no business seeing.
    const retryAfter = (thrown as { retryAfterSeconds?: number }).retryAfterSeconds;
    return answer(errors.error(thrown.code, undefined, retryAfter ? { 'retry-after': String(retryAfter) } : {}));
  }
  // The staged or committed file did not fit: what was written is already removed (storage and acceptUpload).
  if (isDiskFull(thrown)) return answer(errors.error('STORAGE_FULL' as C, undefined, { connection: 'close' }));
  if (isRedisUnavailable(thrown)) return answer(errors.error('REDIS_UNAVAILABLE' as C));
  const fastify = fastifyError(errors, thrown as FastifyLikeError);
  if (fastify) return answer(fastify);
  return { ...answer(errors.error('INTERNAL_ERROR' as C)), unexpected: true };
}

/** Fastify's own client errors; their messages may quote the request (a Content-Type, JSON), so fixed ones instead. */
function fastifyError<C extends string>(errors: ErrorRegistry<C>, e: FastifyLikeError): HttpError | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  if (e.code === 'FST_ERR_VALIDATION') {
    // A malformed id can name nothing: that is "not found", not "bad request".
    if (e.validationContext === 'params') return errors.error('NOT_FOUND' as C);
    // The validator's message names schema fields and rules only, never a value.
    return errors.error('REQUEST_INVALID' as C, `${e.validationContext ?? 'request'}: ${e.message}`);
  }
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return errors.error('UNSUPPORTED_MEDIA_TYPE' as C);
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return errors.error('REQUEST_TOO_LARGE' as C);
  const status = e.statusCode;
  if (status === 404) return errors.error('NOT_FOUND' as C);
  if (status === 405) return errors.error('METHOD_NOT_ALLOWED' as C);
  if (typeof status === 'number' && status >= 400 && status < 500) return errors.error('REQUEST_INVALID' as C);
  return undefined;
}
