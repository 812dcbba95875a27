// Whether a failure means "Redis cannot serve us right now" (answer 503 and retry later) rather than a bug.

/** Socket-level failures of a connection to Redis. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** What ioredis says when a command cannot be sent or answered (its errors carry no code). */
const CLIENT_MESSAGES = [
  /^Connection is closed\.?$/,
  /^Command timed out$/,
  /^Stream isn't writeable and enableOfflineQueue options is false$/,
  /^Command aborted due to connection close$/,
  /^Reached the max retries per request limit/,
  /^Socket timeout\. /,
  /^connect ETIMEDOUT$/,
  /^None of startup nodes is available$/,
  /^Failed to refresh slots cache\.?$/,
  /^No master node is available/,
  /^Connection is (aborted|discarded)/,
];

/**
 * Error replies with which Redis refuses a command for the time being: out of memory under `noeviction`,
 * a read-only replica, a dataset being loaded, a cluster or master down, a busy script, a failed snapshot
 * that blocks writes (`MISCONF`), too few replicas.
 */
const REPLY_CODES = /^(OOM|READONLY|LOADING|CLUSTERDOWN|MASTERDOWN|TRYAGAIN|BUSY|MISCONF|NOREPLICAS)\b/;
/** The same refusals, reported from inside a Lua script (`ERR Error running script ...: OOM command ...`). */
const IN_SCRIPT = /\b(OOM command not allowed|READONLY You can't write|LOADING Redis is loading|CLUSTERDOWN)\b/;

const CLIENT_ERROR_NAMES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError']);

/**
 * True when `err` (or an error in its `cause` chain, one of an AggregateError's errors, or a reply that aborted a
 * MULTI) says that Redis is
 * unavailable for now: the connection is down, refused, reset or timed out, ioredis gave up retrying
 * (`MaxRetriesPerRequestError`), a command timed out, or Redis refused the command with `OOM`, `READONLY`,
 * `LOADING`, `CLUSTERDOWN`, `MASTERDOWN`, `TRYAGAIN`, `BUSY`, `MISCONF` or `NOREPLICAS`.
 *
 * A request path answers these with 503 and `Retry-After`; anything else is a bug (500).
 */
export function isRedisUnavailable(err: unknown): boolean {
  const seen = new Set<unknown>();
  const check = (e: unknown): boolean => {
    if (typeof e !== 'object' || e === null || seen.has(e)) return false;
    seen.add(e);
    const { name, code, message, cause, errors, previousErrors } = e as {
      name?: unknown;
      code?: unknown;
      message?: unknown;
      cause?: unknown;
      errors?: unknown;
      /** ioredis: the replies that made a MULTI's EXEC abort (EXECABORT). */
      previousErrors?: unknown;
    };
    if (typeof name === 'string' && CLIENT_ERROR_NAMES.has(name)) return true;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    if (typeof message === 'string') {
      if (REPLY_CODES.test(message) || IN_SCRIPT.test(message)) return true;
      if (CLIENT_MESSAGES.some((re) => re.test(message))) return true;
    }
    if (Array.isArray(errors) && errors.some(check)) return true;
    if (Array.isArray(previousErrors) && previousErrors.some(check)) return true;
    return check(cause);
  };
  return check(err);
}

/** What a write refused for want of space says: the OS's errno, or a storage error's own code. */
const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'STORAGE_FULL']);

/**
 * True when `err` (or an error in its `cause` chain) says that a write was refused for want of space: the disk
 * or the quota is full (ENOSPC, EDQUOT, or a storage error coded `STORAGE_FULL`). Not the job's fault and not a
 * bug: an API answers 507, a worker waits for an operator to free space.
 */
export function isDiskFull(err: unknown): boolean {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && DISK_FULL_CODES.has(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
