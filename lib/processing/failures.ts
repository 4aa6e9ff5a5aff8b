/**
 * Which processing failures are worth retrying without limit and which are not (for commits to
 * Cosmos DB and pushes to Web PubSub alike).
 *
 * The change-feed trigger redelivers a failed batch (retry policy in functions/processEvents.ts)
 * and holds the lease's checkpoint until it succeeds, so every meeting on that feed range waits.
 * That is right while Cosmos DB is throttling, timing out or failing over (it will recover), and
 * while the app cannot reach or is not allowed into its account (an operator fixes it: the events
 * must not be skipped meanwhile). It is wrong for a failure that will happen again on every try: a
 * bug in the reducer, a document Cosmos DB refuses (400, 413 too large). Those are retried a few
 * times, then the meeting's documents of that batch are parked (see MeetingProcessor) so the
 * range moves on.
 */
import { StaleStateError } from '../ports';

export type FailureKind = 'transient' | 'permanent';

/** Cosmos DB statuses that clear up by themselves or by an operator, never by skipping data. */
const TRANSIENT_STATUS = new Set([401, 403, 404, 408, 410, 429, 449]);

/** Socket-level failures reported by Node.js and undici. */
const TRANSIENT_NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/**
 * The HTTP status a service answered with: Cosmos DB errors carry it as `code`, the Azure core
 * REST pipeline (Web PubSub) as `statusCode`.
 */
function statusOf(err: object): number | undefined {
  const { statusCode, code } = err as { statusCode?: unknown; code?: unknown };
  return typeof statusCode === 'number' ? statusCode : typeof code === 'number' ? code : undefined;
}

export function classifyFailure(err: unknown): FailureKind {
  if (err instanceof StaleStateError) return 'transient'; // contention with another writer
  if (!err || typeof err !== 'object') return 'permanent';
  const status = statusOf(err);
  if (status !== undefined) return status >= 500 || TRANSIENT_STATUS.has(status) ? 'transient' : 'permanent';
  const { code, name, cause } = err as { code?: unknown; name?: unknown; cause?: unknown };
  if (typeof code === 'string' && TRANSIENT_NETWORK_CODES.has(code)) return 'transient';
  if (name === 'TimeoutError' || name === 'AbortError') return 'transient';
  // fetch wraps the socket error: TypeError('fetch failed', { cause: { code: 'ECONNRESET' } }).
  if (cause && cause !== err) return classifyFailure(cause);
  return 'permanent';
}

/**
 * A request the service answered with a 4xx that retrying cannot change (400 bad request, 413
 * too large). Only an explicit answer counts: an error without a status (a socket that closed, a
 * hub that is down) may succeed later, so a push is kept for retry rather than skipped.
 */
export function refusedForGood(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const status = statusOf(err);
  return status !== undefined && status >= 400 && status < 500 && classifyFailure(err) === 'permanent';
}
