/**
 * The one error type the HTTP API raises, and its mapping to `application/problem+json`
 * (RFC 9457). Anything else that escapes a handler becomes a 500 without details; Cosmos DB
 * throttling that outlasted the SDK's retries, or Cosmos DB being unreachable, becomes a 503 with
 * Retry-After.
 */
export interface FieldError {
  /** JSON path of the offending field, e.g. `events[3].data.text`. */
  path: string;
  message: string;
}

/** Problem `type` URIs: stable identifiers clients can switch on (documented in docs/api.md). */
export const problemType = (slug: string) => `urn:meetstream:problem:${slug}`;

export interface ProblemOptions {
  errors?: FieldError[];
  headers?: Record<string, string>;
  type?: string;
  /** Extra members of the problem body (RFC 9457 extensions), e.g. `firstAvailableSeq` on 410. */
  extensions?: Record<string, unknown>;
}

export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly options: ProblemOptions = {},
  ) {
    super(detail);
    this.name = 'ProblemError';
  }
}

export const badRequest = (detail: string, errors?: FieldError[], slug = 'validation') =>
  new ProblemError(400, 'Bad Request', detail, { errors, type: problemType(slug) });
export const unauthorized = (detail: string, slug = 'unauthorized') =>
  new ProblemError(401, 'Unauthorized', detail, {
    headers: { 'www-authenticate': 'Bearer' },
    type: problemType(slug),
  });
export const forbidden = (detail: string, slug = 'forbidden') =>
  new ProblemError(403, 'Forbidden', detail, { type: problemType(slug) });
export const notFound = (detail: string, slug = 'not-found') =>
  new ProblemError(404, 'Not Found', detail, { type: problemType(slug) });
export const conflict = (detail: string, slug = 'conflict') =>
  new ProblemError(409, 'Conflict', detail, { type: problemType(slug) });
/** 410: what was asked for existed but has expired (retention); `extensions` say where to go on. */
export const gone = (detail: string, extensions: Record<string, unknown> = {}, slug = 'gone') =>
  new ProblemError(410, 'Gone', detail, { type: problemType(slug), extensions });
export const payloadTooLarge = (detail: string) =>
  new ProblemError(413, 'Payload Too Large', detail, { type: problemType('too-large') });
export const unsupportedMediaType = (detail: string) =>
  new ProblemError(415, 'Unsupported Media Type', detail, { type: problemType('media-type') });
export const tooManyRequests = (detail: string, retryAfterSeconds: number) =>
  new ProblemError(429, 'Too Many Requests', detail, {
    headers: { 'retry-after': String(retryAfterSeconds) },
    type: problemType('rate-limited'),
  });

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

export interface ProblemResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Cosmos DB answers that mean "not now" rather than "broken": throttled, unavailable, timed out. */
const UNAVAILABLE_CODES = new Set<unknown>([
  503,
  408,
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'TimeoutError',
]);

export function toProblem(err: unknown, onUnexpected?: (err: unknown) => void): ProblemResponse {
  if (err instanceof ProblemError) {
    return problem(err.status, err.title, err.detail, err.options);
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 429) {
    const retryMs = Number((err as { retryAfterInMs?: number }).retryAfterInMs ?? 1000);
    return problem(503, 'Service Unavailable', 'The database is busy; retry later.', {
      type: problemType('throttled'),
      headers: { 'retry-after': String(Math.max(1, Math.ceil(retryMs / 1000))) },
    });
  }
  if (code === 409) {
    // A write conflict nobody mapped to a better answer: still a conflict the client can retry
    // or report, not a server fault.
    onUnexpected?.(err);
    return problem(409, 'Conflict', 'The request conflicts with data already stored.', {
      type: problemType('conflict'),
    });
  }
  if (UNAVAILABLE_CODES.has(code) || (err as { name?: unknown } | null)?.name === 'TimeoutError') {
    onUnexpected?.(err);
    return problem(503, 'Service Unavailable', 'A dependency is unavailable; retry later.', {
      type: problemType('unavailable'),
      headers: { 'retry-after': '1' },
    });
  }
  onUnexpected?.(err);
  return problem(500, 'Internal Server Error', 'Something went wrong on our side.', {});
}

function problem(status: number, title: string, detail: string, options: ProblemOptions): ProblemResponse {
  // Extensions first: the standard members always win over an extension of the same name.
  const body: ProblemBody = {
    ...options.extensions,
    type: options.type ?? 'about:blank',
    title,
    status,
    detail,
  };
  if (options.errors?.length) body.errors = options.errors;
  return {
    status,
    headers: {
      'content-type': 'application/problem+json',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      ...options.headers,
    },
    body: JSON.stringify(body),
  };
}
