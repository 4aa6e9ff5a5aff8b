/**
 * The HTTP side of the typed client: fetch with the participant token, JSON in and out, and
 * `application/problem+json` answers turned into MeetstreamError. Browser- and Node-safe (global
 * fetch, no Node modules).
 */
import type { Envelope, EventsPage } from '../lib/protocol/envelopes';

/** Longest wait for an answer (beyond a long-poll's own wait) before a request counts as failed. */
export const REQUEST_TIMEOUT_MS = 20_000;

export type TokenSource = string | (() => string | Promise<string>);

/** An HTTP error answer (problem+json) or a transport failure (`status` 0). */
export class MeetstreamError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly problem?: { type?: string; title?: string; detail?: string; [key: string]: unknown },
    /** From Retry-After on 429/503. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'MeetstreamError';
  }

  /** 401/403: retrying with the same token cannot help. */
  get isAuth(): boolean {
    return this.status === 401 || this.status === 403;
  }

  static async from(res: Response, what: string): Promise<MeetstreamError> {
    let problem: MeetstreamError['problem'];
    try {
      problem = (await res.json()) as MeetstreamError['problem'];
    } catch {
      problem = undefined;
    }
    const retryAfter = Number(res.headers.get('retry-after'));
    return new MeetstreamError(
      `${what}: ${res.status} ${problem?.detail ?? problem?.title ?? res.statusText}`,
      res.status,
      problem,
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
    );
  }
}

export interface Negotiated {
  url: string;
  group: string;
  expiresAt?: string;
}

export interface Joined {
  participant: { id: string; displayName: string; role: string; [key: string]: unknown };
  token: string;
  expiresAt: string;
}

export class MeetstreamHttp {
  constructor(
    private readonly baseUrl: string,
    private readonly meetingId: string,
    private token: TokenSource,
    private readonly fetchFn: typeof fetch = (...args) => fetch(...args),
    private readonly timeoutMs = REQUEST_TIMEOUT_MS,
  ) {}

  setToken(token: TokenSource): void {
    this.token = token;
  }

  async currentToken(): Promise<string> {
    return typeof this.token === 'function' ? await this.token() : this.token;
  }

  /** `base/meetings/{id}/{path}` with the query values given. */
  url(path: string, query: Record<string, string | number | undefined> = {}): string {
    const q = Object.entries(query)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join('&');
    const base = `${trimSlash(this.baseUrl)}/meetings/${encodeURIComponent(this.meetingId)}${path}`;
    return q ? `${base}?${q}` : base;
  }

  /**
   * One request with the token; `read` consumes the response. The whole exchange, body included,
   * stays linked to the caller's `signal` (stop() also ends a body being read), and the link is
   * removed when it is over: a client lives long and makes many requests on one signal, so a link
   * left behind per request would pile up for ever. `timeoutMs` bounds the wait for the response
   * head and, unless `bodyTimeout` is false (streams, which watch their own idleness), the body
   * too: a request that never completes must not stall the caller's retry loop.
   */
  async request<T>(
    url: string,
    init: RequestInit & { headers?: Record<string, string>; timeoutMs?: number; bodyTimeout?: boolean },
    read: (res: Response) => Promise<T>,
  ): Promise<T> {
    const { timeoutMs = this.timeoutMs, bodyTimeout = true, ...rest } = init;
    const headers = { ...rest.headers, authorization: `Bearer ${await this.currentToken()}` };
    const guard = new AbortController();
    const outer = rest.signal;
    const onAbort = () => guard.abort();
    if (outer?.aborted) guard.abort();
    outer?.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      guard.abort();
    }, timeoutMs);
    try {
      let res: Response;
      try {
        res = await this.fetchFn(url, { ...rest, headers, signal: guard.signal });
      } catch (err) {
        if (timedOut) throw new MeetstreamError(`request timed out after ${timeoutMs} ms`, 0);
        if (isAbort(err)) throw err;
        throw new MeetstreamError(`request failed: ${errorText(err)}`, 0);
      }
      if (!bodyTimeout) clearTimeout(timer);
      try {
        return await read(res);
      } catch (err) {
        if (timedOut) throw new MeetstreamError(`response not complete after ${timeoutMs} ms`, 0);
        if (isAbort(err) || err instanceof MeetstreamError) throw err;
        throw new MeetstreamError(`response failed: ${errorText(err)}`, 0);
      }
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    }
  }

  async json<T>(
    what: string,
    url: string,
    init: RequestInit & { headers?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<T> {
    return this.request(url, init, async (res) => {
      if (!res.ok) throw await MeetstreamError.from(res, what);
      return (await res.json()) as T;
    });
  }

  readEvents(after: number, limit?: number, waitSeconds?: number, signal?: AbortSignal): Promise<EventsPage> {
    return this.json<EventsPage>('events', this.url('/events', { after, limit, wait: waitSeconds }), {
      signal,
      headers: { accept: 'application/json' },
      timeoutMs: this.timeoutMs + (waitSeconds ?? 0) * 1000,
    });
  }

  /** A short-lived ticket for `GET …/events/stream?ticket=` (EventSource cannot send headers). */
  streamTicket(signal?: AbortSignal): Promise<{ ticket: string; expiresAt: string }> {
    return this.json('stream-ticket', this.url('/events/stream-ticket'), { method: 'POST', signal });
  }

  negotiate(signal?: AbortSignal): Promise<Negotiated> {
    return this.json<Negotiated>('negotiate', this.url('/negotiate'), { method: 'POST', signal });
  }

  post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.json<T>(path.replace(/^\//, ''), this.url(path), {
      method: 'POST',
      signal,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }
}

/** POST /meetings/{id}/join: a new participant token for anyone with the join code. */
export async function joinMeeting(opts: {
  baseUrl: string;
  meetingId: string;
  displayName: string;
  joinCode: string;
  fetch?: typeof fetch;
}): Promise<Joined> {
  const fetchFn = opts.fetch ?? fetch;
  const res = await fetchFn(
    `${trimSlash(opts.baseUrl)}/meetings/${encodeURIComponent(opts.meetingId)}/join`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ displayName: opts.displayName, joinCode: opts.joinCode }),
    },
  );
  if (!res.ok) throw await MeetstreamError.from(res, 'join');
  return (await res.json()) as Joined;
}

/** Envelopes out of a pushed message: the service sends arrays (one per batch); accept one too. */
export function envelopesOf(data: unknown): Envelope[] {
  const list = Array.isArray(data) ? data : [data];
  return list.filter(
    (e): e is Envelope =>
      !!e &&
      typeof e === 'object' &&
      typeof (e as Envelope).seq === 'number' &&
      typeof (e as Envelope).kind === 'string',
  );
}

/** Epoch ms at which a participant token expires (its `exp`), if it can be read. */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const json = atob(
      payload
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(payload.length / 4) * 4, '='),
    );
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export function isAbort(err: unknown): boolean {
  return !!err && typeof err === 'object' && (err as { name?: unknown }).name === 'AbortError';
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
