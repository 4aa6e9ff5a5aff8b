/**
 * The one error type the HTTP API raises, and its mapping to `application/problem+json`
 * (RFC 9457). Anything else that escapes a handler becomes a 500 without details; Cosmos DB
 * throttling that outlasted the SDK's retries becomes a 503 with Retry-After.
 */
export interface FieldError {
  /** JSON path of the offending field, e.g. `events[3].data.text`. */
  path: string;
  message: string;
}

export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly options: { errors?: FieldError[]; headers?: Record<string, string>; type?: string } = {},
  ) {
    super(detail);
    this.name = 'ProblemError';
  }
}

export const badRequest = (detail: string, errors?: FieldError[]) =>
  new ProblemError(400, 'Bad Request', detail, { errors });
export const unauthorized = (detail: string) =>
  new ProblemError(401, 'Unauthorized', detail, { headers: { 'www-authenticate': 'Bearer' } });
export const forbidden = (detail: string) => new ProblemError(403, 'Forbidden', detail);
export const notFound = (detail: string) => new ProblemError(404, 'Not Found', detail);
export const conflict = (detail: string) => new ProblemError(409, 'Conflict', detail);

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
}

export interface ProblemResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function toProblem(err: unknown, onUnexpected?: (err: unknown) => void): ProblemResponse {
  if (err instanceof ProblemError) {
    return problem(err.status, err.title, err.detail, err.options);
  }
  const code = (err as { code?: unknown; statusCode?: unknown } | null)?.code;
  if (code === 429) {
    const retryMs = Number((err as { retryAfterInMs?: number }).retryAfterInMs ?? 1000);
    return problem(503, 'Service Unavailable', 'The database is busy; retry later.', {
      headers: { 'retry-after': String(Math.max(1, Math.ceil(retryMs / 1000))) },
    });
  }
  onUnexpected?.(err);
  return problem(500, 'Internal Server Error', 'Something went wrong on our side.', {});
}

function problem(
  status: number,
  title: string,
  detail: string,
  options: { errors?: FieldError[]; headers?: Record<string, string>; type?: string },
): ProblemResponse {
  const body: ProblemBody = { type: options.type ?? 'about:blank', title, status, detail };
  if (options.errors?.length) body.errors = options.errors;
  return {
    status,
    headers: { 'content-type': 'application/problem+json', ...options.headers },
    body: JSON.stringify(body),
  };
}
