/**
 * Whether an error means "Redis cannot serve us now" (down, unreachable, timed out, retries spent, out of
 * memory, loading, a read-only replica, a cluster without quorum) rather than a bug: such a failure is
 * answered 503 REDIS_UNAVAILABLE with Retry-After, never 500. Self-contained on purpose (no imports), so it
 * can move to a shared package as is.
 */
export function isRedisUnavailable(err: unknown): boolean {
  return check(err, 0);
}

/** Error replies Redis gives when it refuses for now: `OOM command not allowed when used memory > 'maxmemory'`, ... */
const UNAVAILABLE_REPLY = /^(OOM|LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY|NOREPLICAS|MISCONF)\b/;

/** Socket errors: the server is not reachable. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
]);

/** What ioredis (and BullMQ through it) throws when it gave up on a command. */
const CLIENT_NAMES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError']);
const CLIENT_MESSAGES = [
  /^Connection is closed/,
  /^Reached the max retries per request limit/,
  /^Stream isn't writeable and enableOfflineQueue options is false/,
  /^Command timed out/,
  /^Failed to refresh slots cache/,
  /^None of startup nodes is available/,
  /^Cluster isn't ready and enableOfflineQueue options is false/,
  /^Too many Cluster redirections/,
];

function check(err: unknown, depth: number): boolean {
  if (typeof err !== 'object' || err === null || depth > 4) return false;
  const e = err as Record<string, unknown>;
  const name = typeof e.name === 'string' ? e.name : '';
  const message = typeof e.message === 'string' ? e.message : '';
  if (CLIENT_NAMES.has(name)) return true;
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  if (UNAVAILABLE_REPLY.test(message) || CLIENT_MESSAGES.some((re) => re.test(message))) return true;
  // Wrapped: a cause, an AggregateError, a cluster's last node error, the errors that aborted a MULTI.
  const nested = [e.cause, e.lastNodeError, ...(Array.isArray(e.errors) ? e.errors : [])];
  if (Array.isArray(e.previousErrors)) nested.push(...e.previousErrors);
  return nested.some((n) => check(n, depth + 1));
}
