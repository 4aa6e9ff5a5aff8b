/**
 * The typed client's delivery pipeline against a scripted HTTP server (a fake fetch): in-order,
 * exactly-once delivery whatever the transport hands it, gaps filled from the catch-up route,
 * expired envelopes skipped visibly, refused tokens failing start(), and the SSE parser. Also that
 * the compiled client needs nothing Node-specific (it must run in browsers).
 */
import { getEventListeners } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  MeetstreamClient,
  SseParser,
  type EventSourceLike,
  type GapInfo,
  type SseMessage,
} from '../../client';
import { MeetstreamHttp, envelopesOf, tokenExpiry } from '../../client/http';
import { readSse } from '../../client/sse';
import type { Envelope, EventsPage } from '../../lib/protocol';

const MEETING = 'm1';

function envelope(seq: number, meetingId = MEETING): Envelope {
  return {
    seq,
    meetingId,
    kind: 'event',
    type: 'chat.message',
    id: `e${seq}`,
    actor: 'p1',
    data: { text: `message ${seq}` },
    at: new Date(0).toISOString(),
  };
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json' },
  });

/** A catch-up page holding exactly these seqs. */
const page = (...seqs: number[]) => json(200, { items: seqs.map((n) => envelope(n)), continuation: null });

/** An SSE response whose body the test writes to. */
function sseResponse() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
  const encoder = new TextEncoder();
  return {
    response: new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } }),
    send: (envelopes: Envelope[]) =>
      controller.enqueue(
        encoder.encode(envelopes.map((e) => `id: ${e.seq}\ndata: ${JSON.stringify(e)}\n\n`).join('')),
      ),
    raw: (text: string) => controller.enqueue(encoder.encode(text)),
    end: () => controller.close(),
  };
}

interface Call {
  url: URL;
  headers: Record<string, string>;
  signal?: AbortSignal;
}

/** A fake fetch answering from `route(url)`; requests after the test's end wait until aborted. */
function fakeFetch(route: (url: URL, call: Call) => Response | Promise<Response> | undefined) {
  const calls: Call[] = [];
  const fetchFn = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const call = {
      url,
      headers: (init?.headers ?? {}) as Record<string, string>,
      signal: init?.signal ?? undefined,
    };
    calls.push(call);
    const answer = await route(url, call);
    if (answer) return answer;
    return new Promise<Response>((_, reject) => {
      const signal = init?.signal;
      const abort = () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
      if (signal?.aborted) abort();
      signal?.addEventListener('abort', abort, { once: true });
    });
  }) as typeof fetch;
  return { fetchFn, calls };
}

async function until(condition: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const token = (expSeconds: number) =>
  `x.${Buffer.from(JSON.stringify({ exp: expSeconds })).toString('base64url')}.y`;

describe('typed client pipeline', () => {
  const started: MeetstreamClient[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((c) => c.stop()));
  });

  function client(
    fetchFn: typeof fetch,
    extra: Partial<ConstructorParameters<typeof MeetstreamClient>[0]> = {},
  ) {
    const c = new MeetstreamClient({
      baseUrl: 'http://api.test/api/',
      meetingId: MEETING,
      token: 't0k',
      fetch: fetchFn,
      longPollSeconds: 1,
      ...extra,
    });
    started.push(c);
    const delivered: number[] = [];
    const gaps: GapInfo[] = [];
    c.onEnvelope((e) => delivered.push(e.seq));
    c.onGap((g) => gaps.push(g));
    return { c, delivered, gaps };
  }

  test('SSE: envelopes are delivered once and in order; a hole is filled from the catch-up route first', async () => {
    const stream = sseResponse();
    const { fetchFn, calls } = fakeFetch((url) => {
      if (url.pathname.endsWith('/events/stream')) return calls.length === 1 ? stream.response : undefined;
      if (url.pathname.endsWith('/events') && url.searchParams.get('after') === '2') {
        return json(200, { items: [envelope(3), envelope(4)], continuation: null } satisfies EventsPage);
      }
      return json(200, { items: [], continuation: null });
    });
    const { c, delivered } = client(fetchFn, { transport: 'sse' });
    await c.start();
    expect(calls[0]!.headers.authorization).toBe('Bearer t0k');
    expect(calls[0]!.url.searchParams.get('after')).toBe('0');
    stream.send([envelope(1), envelope(2), envelope(2), envelope(1)]);
    stream.send([envelope(5), envelope(3)]);
    // Another meeting's envelope never gets in.
    stream.send([envelope(6, 'other')]);
    await until(() => delivered.length === 5);
    expect(delivered).toEqual([1, 2, 3, 4, 5]);
    expect(c.lastSeq).toBe(5);
    expect(c.transport).toBe('sse');
  });

  test('SSE: a stream the server ends is reopened after lastSeq (with Last-Event-ID)', async () => {
    const first = sseResponse();
    const second = sseResponse();
    const { fetchFn, calls } = fakeFetch((url) => {
      if (!url.pathname.endsWith('/events/stream')) return json(200, { items: [], continuation: null });
      const streams = calls.filter((c) => c.url.pathname.endsWith('/events/stream')).length;
      return streams === 1 ? first.response : streams === 2 ? second.response : undefined;
    });
    const { c, delivered } = client(fetchFn, { transport: 'sse' });
    await c.start();
    first.send([envelope(1), envelope(2)]);
    first.end();
    await until(() => calls.filter((x) => x.url.pathname.endsWith('/stream')).length === 2);
    const reopened = calls.filter((x) => x.url.pathname.endsWith('/stream'))[1]!;
    expect(reopened.url.searchParams.get('after')).toBe('2');
    expect(reopened.headers['last-event-id']).toBe('2');
    second.send([envelope(3)]);
    await until(() => delivered.length === 3);
    expect(delivered).toEqual([1, 2, 3]);
  });

  test('long-poll: follows the log with `wait`, and skips envelopes that expired (410) visibly', async () => {
    const { fetchFn, calls } = fakeFetch((url) => {
      const after = Number(url.searchParams.get('after'));
      if (after === 0) {
        return json(410, { status: 410, title: 'Gone', detail: 'expired', firstAvailableSeq: 4 });
      }
      if (after === 3) return json(200, { items: [envelope(4), envelope(5)], continuation: null });
      return undefined;
    });
    const { c, delivered, gaps } = client(fetchFn, { transport: 'long-poll' });
    await c.start();
    await until(() => delivered.length === 2);
    expect(delivered).toEqual([4, 5]);
    expect(gaps).toEqual([{ from: 1, to: 3, reason: 'expired' }]);
    expect(calls.every((x) => x.url.searchParams.get('wait') === '1')).toBe(true);
    await until(() => calls.at(-1)!.url.searchParams.get('after') === '5');
  });

  test('a client can resume from a saved position and sees nothing before it', async () => {
    const { fetchFn, calls } = fakeFetch((url) =>
      url.searchParams.get('after') === '7'
        ? json(200, { items: [envelope(7), envelope(8)], continuation: null })
        : undefined,
    );
    const { c, delivered } = client(fetchFn, { transport: 'long-poll', after: 7 });
    await c.start();
    await until(() => delivered.length === 1);
    expect(delivered).toEqual([8]);
    expect(calls[0]!.url.searchParams.get('after')).toBe('7');
  });

  test('start() fails at once when the token is refused, on every transport', async () => {
    const { fetchFn } = fakeFetch(() =>
      json(403, { status: 403, title: 'Forbidden', detail: 'other meeting' }),
    );
    for (const transport of ['sse', 'long-poll', 'websocket'] as const) {
      const { c } = client(fetchFn, { transport });
      await expect(c.start()).rejects.toMatchObject({ status: 403 });
      expect(c.status).toBe('stopped');
    }
  });

  test('typed subscriptions get only their kind and type, and can unsubscribe', async () => {
    const state: Envelope = {
      seq: 2,
      meetingId: MEETING,
      kind: 'state',
      type: 'hands',
      data: { queue: [], change: { participantId: 'p1', action: 'raised', by: 'p1' } },
      at: '',
    };
    const analytics: Envelope = {
      seq: 3,
      meetingId: MEETING,
      kind: 'analytics',
      type: 'chatRate',
      data: { perMinute: 1 },
      at: '',
    };
    const { fetchFn } = fakeFetch((url) =>
      url.searchParams.get('after') === '0'
        ? json(200, { items: [envelope(1), state, analytics, envelope(4)], continuation: null })
        : undefined,
    );
    const { c } = client(fetchFn, { transport: 'long-poll' });
    const chats: string[] = [];
    const hands: string[] = [];
    const rates: unknown[] = [];
    const off = c.onChat((e) => {
      chats.push(e.data.text);
      off();
    });
    c.onState('hands', (data) => hands.push(data.change.action));
    c.onState('roster', () => hands.push('wrong'));
    c.onAnalytics('chatRate', (data) => rates.push(data));
    c.onEvent('reaction', () => chats.push('wrong'));
    await c.start();
    await until(() => c.lastSeq === 4);
    expect(chats).toEqual(['message 1']);
    expect(hands).toEqual(['raised']);
    expect(rates).toEqual([{ perMinute: 1 }]);
  });

  test('a listener that throws is reported and does not stop delivery', async () => {
    const { fetchFn } = fakeFetch((url) =>
      url.searchParams.get('after') === '0'
        ? json(200, { items: [envelope(1), envelope(2)], continuation: null })
        : undefined,
    );
    const { c, delivered } = client(fetchFn, { transport: 'long-poll' });
    const errors: string[] = [];
    c.onEnvelope(() => {
      throw new Error('app bug');
    });
    c.onError((e) => errors.push(e.message));
    await c.start();
    await until(() => delivered.length === 2);
    expect(errors).toEqual(['app bug', 'app bug']);
  });

  test('token-expiring fires before the token expires, and setToken() is used from then on', async () => {
    const { fetchFn, calls } = fakeFetch((url) =>
      url.pathname.endsWith('/events') && !url.searchParams.has('after')
        ? json(202, { accepted: [] })
        : undefined,
    );
    const soon = Math.floor(Date.now() / 1000) + 3600;
    const { c } = client(fetchFn, {
      transport: 'long-poll',
      token: token(soon),
      tokenRefreshMarginMs: 3600_000,
    });
    const expiring: Date[] = [];
    c.onTokenExpiring(({ expiresAt }) => expiring.push(expiresAt));
    void c.start().catch(() => undefined);
    await until(() => expiring.length === 1);
    expect(expiring[0]!.getTime()).toBe(soon * 1000);
    c.setToken('fresh');
    await c.send({ type: 'chat.message', data: { text: 'hi' } });
    expect(calls.at(-1)!.headers.authorization).toBe('Bearer fresh');
  });

  test('EventSource variant: a ticket refused after the stream worked (expired token) is retried until setToken()', async () => {
    const urls: string[] = [];
    const fake = (url: string): EventSourceLike => {
      urls.push(url);
      const source: EventSourceLike = {
        onopen: null,
        onerror: null,
        onmessage: null,
        readyState: 0,
        addEventListener: () => undefined,
        close: () => undefined,
      };
      // The first stream opens, then drops; later ones stay open.
      setTimeout(() => {
        source.onopen?.({});
        if (urls.length === 1) setTimeout(() => source.onerror?.({}), 5);
      }, 1);
      return source;
    };
    const { fetchFn } = fakeFetch((url, call) => {
      if (!url.pathname.endsWith('/events/stream-ticket')) return undefined;
      if (call.headers.authorization === 'Bearer t0k' && urls.length >= 1)
        return json(401, {
          type: 'urn:meetstream:problem:token-expired',
          title: 'Unauthorized',
          status: 401,
          detail: 'expired',
        });
      return Response.json({
        ticket: `ticket-for-${call.headers.authorization}`,
        expiresAt: new Date().toISOString(),
      });
    });
    const { c } = client(fetchFn, { transport: 'sse', sse: 'eventsource', eventSource: fake });
    await c.start();
    await new Promise((r) => setTimeout(r, 300)); // the ticket is refused at least once meanwhile
    expect(urls).toHaveLength(1);
    c.setToken('fresh');
    await until(() => urls.length === 2, 5000);
    expect(new URL(urls[1]!).searchParams.get('ticket')).toBe('ticket-for-Bearer fresh');
  });

  test('EventSource variant: a stream ticket in the URL, resumes after lastSeq, `expired` events skip ahead', async () => {
    const sources: Array<FakeEventSource> = [];
    class FakeEventSource implements EventSourceLike {
      onopen: ((ev: unknown) => void) | null = null;
      onerror: ((ev: unknown) => void) | null = null;
      onmessage: ((ev: { data: string }) => void) | null = null;
      readyState = 0;
      listeners = new Map<string, (ev: { data: string }) => void>();
      constructor(readonly url: string) {
        sources.push(this);
        setTimeout(() => this.onopen?.({}), 1);
      }
      addEventListener(type: string, listener: (ev: { data: string }) => void): void {
        this.listeners.set(type, listener);
      }
      close(): void {
        this.readyState = 2;
      }
    }
    let tickets = 0;
    const { fetchFn, calls } = fakeFetch((url) =>
      url.pathname.endsWith('/events/stream-ticket')
        ? Response.json({
            ticket: `ticket-${++tickets}`,
            expiresAt: new Date(Date.now() + 30_000).toISOString(),
          })
        : // start()'s catch-up: nothing in the log yet (the stream below brings it all).
          url.pathname.endsWith('/events')
          ? Response.json({ items: [], continuation: null })
          : undefined,
    );
    const { c, delivered, gaps } = client(fetchFn, {
      transport: 'sse',
      sse: 'eventsource',
      eventSource: (url) => new FakeEventSource(url),
    });
    await c.start();
    const first = sources[0]!;
    // A fresh stream ticket per connection; the participant token stays in the header.
    expect(new URL(first.url).searchParams.get('ticket')).toBe('ticket-1');
    expect(new URL(first.url).searchParams.has('access_token')).toBe(false);
    expect(calls[0]!.headers.authorization).toBe('Bearer t0k');
    first.onmessage!({ data: JSON.stringify(envelope(1)) });
    first.listeners.get('expired')!({ data: JSON.stringify({ after: 1, firstAvailableSeq: 5 }) });
    first.onmessage!({ data: JSON.stringify(envelope(5)) });
    first.onerror!({});
    await until(() => sources.length === 2, 5000);
    expect(new URL(sources[1]!.url).searchParams.get('after')).toBe('5');
    expect(new URL(sources[1]!.url).searchParams.get('ticket')).toBe('ticket-2');
    expect(delivered).toEqual([1, 5]);
    expect(gaps).toEqual([{ from: 2, to: 4, reason: 'expired' }]);
  });
});

describe('typed client catch-up through failures', () => {
  const started: MeetstreamClient[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((c) => c.stop()));
  });

  /** An SSE client (its stream stands in for pushes) whose catch-up requests `catchUp` answers. */
  function sseClient(
    catchUp: (after: number, n: number, call: Call) => Response | Promise<Response> | undefined,
    extra: Partial<ConstructorParameters<typeof MeetstreamClient>[0]> = {},
  ) {
    const stream = sseResponse();
    let catchUps = 0;
    let streams = 0;
    const { fetchFn, calls } = fakeFetch((url, call) => {
      if (url.pathname.endsWith('/events/stream')) return streams++ === 0 ? stream.response : undefined;
      return catchUp(Number(url.searchParams.get('after')), ++catchUps, call);
    });
    const c = new MeetstreamClient({
      baseUrl: 'http://api.test/api',
      meetingId: MEETING,
      token: 't0k',
      fetch: fetchFn,
      transport: 'sse',
      ...extra,
    });
    started.push(c);
    const delivered: number[] = [];
    const errors: string[] = [];
    c.onEnvelope((e) => delivered.push(e.seq));
    c.onError((e) => errors.push(e.message));
    return { c, stream, calls, delivered, errors, catchUps: () => catchUps };
  }

  test('a catch-up that never gets an answer (the API died mid-request) times out and is retried', async () => {
    const { c, stream, delivered, errors } = sseClient((after, n) => (n === 1 ? undefined : page(2, 3)), {
      requestTimeoutMs: 100,
    });
    await c.start();
    stream.send([envelope(1), envelope(4)]);
    await until(() => delivered.length === 4);
    expect(delivered).toEqual([1, 2, 3, 4]);
    expect(errors).toEqual(['request timed out after 100 ms']);
  });

  test('a catch-up whose answer stops half-way through the body times out and is retried', async () => {
    // The head and a first chunk arrive, then nothing; like fetch, the body fails when aborted.
    const stalled = (signal?: AbortSignal) =>
      new Response(
        new ReadableStream<Uint8Array>({
          start: (ctl) => {
            ctl.enqueue(new TextEncoder().encode('{"items":['));
            signal?.addEventListener('abort', () => ctl.error(new DOMException('aborted', 'AbortError')));
          },
        }),
        { status: 200, headers: { 'content-type': 'application/json' } },
      );
    const { c, stream, delivered, errors } = sseClient(
      (after, n, call) => (n === 1 ? stalled(call.signal) : page(2, 3)),
      {
        requestTimeoutMs: 100,
      },
    );
    await c.start();
    stream.send([envelope(1), envelope(4)]);
    await until(() => delivered.length === 4);
    expect(delivered).toEqual([1, 2, 3, 4]);
    expect(errors).toEqual(['response not complete after 100 ms']);
  });

  test('a catch-up refused for the rate limit (429) is retried after Retry-After, not given up', async () => {
    const limited = () =>
      new Response(JSON.stringify({ status: 429, title: 'Too Many Requests' }), {
        status: 429,
        headers: { 'content-type': 'application/problem+json', 'retry-after': '1' },
      });
    const { c, stream, delivered } = sseClient((after, n) => (n <= 2 ? limited() : page(2, 3)));
    await c.start();
    const t0 = Date.now();
    stream.send([envelope(1), envelope(4)]);
    await until(() => delivered.length === 4, 5000);
    expect(delivered).toEqual([1, 2, 3, 4]);
    // Two refusals, each waited out as the server asked.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
  });

  test('a catch-up that finds the missing envelopes not readable yet looks again, and later gaps are filled too', async () => {
    const { c, stream, delivered } = sseClient((after, n) => {
      if (after === 1) return n === 1 ? page() : page(2);
      if (after === 3) return page(4);
      return page();
    });
    await c.start();
    stream.send([envelope(1), envelope(3)]);
    await until(() => delivered.length === 3);
    stream.send([envelope(5)]);
    await until(() => delivered.length === 5);
    expect(delivered).toEqual([1, 2, 3, 4, 5]);
  });

  test('sync() cuts short the pause of a catch-up that failed while the API was down', async () => {
    let apiDown = true;
    const { c, stream, delivered, catchUps } = sseClient(() => {
      if (apiDown) throw new TypeError('fetch failed');
      return page(2, 3);
    });
    await c.start();
    stream.send([envelope(1), envelope(4)]);
    // Pauses grow with each failure: after the 4th the next try is 1-2 s away.
    await until(() => catchUps() === 4, 5000);
    apiDown = false;
    const t0 = Date.now();
    await c.sync();
    expect(delivered).toEqual([1, 2, 3, 4]);
    expect(Date.now() - t0).toBeLessThan(700);
  });

  test('a long-poll that never gets an answer is given up after its wait plus the request timeout, then polled again', async () => {
    let polls = 0;
    const { fetchFn } = fakeFetch(() => (++polls === 1 ? undefined : page(1, 2)));
    const c = new MeetstreamClient({
      baseUrl: 'http://api.test/api',
      meetingId: MEETING,
      token: 't0k',
      fetch: fetchFn,
      transport: 'long-poll',
      longPollSeconds: 1,
      requestTimeoutMs: 100,
    });
    started.push(c);
    const delivered: number[] = [];
    c.onEnvelope((e) => delivered.push(e.seq));
    const t0 = Date.now();
    void c.start().catch(() => undefined);
    await until(() => delivered.length === 2, 5000);
    expect(delivered).toEqual([1, 2]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1100);
  });

  test('many requests on one client leave no abort listeners behind on its signal', async () => {
    const { fetchFn } = fakeFetch(() => page());
    const http = new MeetstreamHttp('http://api.test/api', MEETING, 't0k', fetchFn);
    const run = new AbortController();
    for (let i = 0; i < 50; i++) await http.readEvents(0, 10, undefined, run.signal);
    expect(getEventListeners(run.signal, 'abort')).toHaveLength(0);
  });
});

describe('typed client long-poll in a busy meeting', () => {
  test('polls at most twice a second however fast envelopes arrive, and misses none', async () => {
    // A meeting with an envelope every 20 ms (50/s): every poll finds something new at once.
    const t0 = Date.now();
    const available = () => Math.floor((Date.now() - t0) / 20);
    const polls: number[] = [];
    const { fetchFn } = fakeFetch((url) => {
      polls.push(Date.now() - t0);
      const after = Number(url.searchParams.get('after'));
      const upTo = Math.max(after + 1, available());
      return page(...Array.from({ length: upTo - after }, (_, i) => after + 1 + i));
    });
    const c = new MeetstreamClient({
      baseUrl: 'http://api.test/api',
      meetingId: MEETING,
      token: 't0k',
      fetch: fetchFn,
      transport: 'long-poll',
    });
    const delivered: number[] = [];
    c.onEnvelope((e) => delivered.push(e.seq));
    await c.start();
    await new Promise((r) => setTimeout(r, 2100));
    await c.stop();
    // 0, 0.5, 1, 1.5, 2 s: five polls, where back-to-back polls would have made hundreds.
    expect(polls.length).toBeLessThanOrEqual(5);
    expect(polls.length).toBeGreaterThanOrEqual(3);
    expect(delivered).toEqual(delivered.map((_, i) => i + 1));
    expect(delivered.length).toBeGreaterThan(50);
  });
});

describe('SSE parser', () => {
  test('handles CRLF, multi-line data, comments, event names, ids and chunks split anywhere', () => {
    const messages: SseMessage[] = [];
    const parser = new SseParser((m) => messages.push(m));
    const text =
      ': hello\r\nretry: 10\r\nid: 7\r\ndata: {"a":\r\ndata: 1}\r\n\r\nevent: expired\ndata: x\n\ndata:no-space\r\r\n';
    for (const ch of text) parser.push(ch);
    expect(messages).toEqual([
      { event: 'message', data: '{"a":\n1}', id: '7' },
      { event: 'expired', data: 'x', id: '7' },
      { event: 'message', data: 'no-space', id: '7' },
    ]);
  });
});

describe('client helpers', () => {
  test('an event stream that goes silent (not even a heartbeat) fails, so the client reconnects', async () => {
    const silent = new ReadableStream<Uint8Array>({ start: () => undefined });
    const t0 = Date.now();
    await expect(readSse(silent, () => undefined, 50)).rejects.toThrow(/idle for 50 ms/);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  test('pushed data: arrays of envelopes or one envelope; anything else is ignored', () => {
    expect(envelopesOf([envelope(1), { nope: true }, null])).toEqual([envelope(1)]);
    expect(envelopesOf(envelope(2))).toEqual([envelope(2)]);
    expect(envelopesOf('text')).toEqual([]);
  });

  test('token expiry is read from the JWT payload, and garbage gives undefined', () => {
    expect(tokenExpiry(token(1234))).toBe(1_234_000);
    expect(tokenExpiry('not-a-token')).toBeUndefined();
    expect(tokenExpiry('a.%%%.b')).toBeUndefined();
  });

  test('the compiled client loads nothing Node-specific (it runs in browsers)', () => {
    const dir = path.resolve(__dirname, '..', '..', 'client');
    const required = new Set<string>();
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.js'))) {
      const code = fs.readFileSync(path.join(dir, file), 'utf8');
      for (const m of code.matchAll(/require\("([^"]+)"\)/g)) required.add(m[1]!);
    }
    // Besides its own modules, only the wire protocol (which imports nothing) may be loaded.
    const external = [...required].filter((r) => !r.startsWith('./') && !r.startsWith('../lib/protocol/'));
    expect(external).toEqual(['@azure/web-pubsub-client']);
  });

  test('the client sources import nothing of the server, not even types (only lib/protocol)', () => {
    const dir = path.resolve(__dirname, '..', '..', '..', 'client');
    const offending: string[] = [];
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))) {
      const code = fs.readFileSync(path.join(dir, file), 'utf8');
      for (const m of code.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
        const spec = m[1]!;
        if (!spec.startsWith('.')) continue;
        const target = path.relative(path.resolve(dir, '..'), path.resolve(dir, spec));
        const inClient = !target.startsWith('..') && target.split(path.sep)[0] === 'client';
        const inProtocol = target.split(path.sep).slice(0, 2).join('/') === 'lib/protocol';
        if (!inClient && !inProtocol) offending.push(`${file}: ${spec}`);
      }
    }
    expect(offending).toEqual([]);
    // The protocol itself must stay free of server imports for that to mean anything.
    const protocol = path.resolve(dir, '..', 'lib', 'protocol');
    for (const file of fs.readdirSync(protocol)) {
      const code = fs.readFileSync(path.join(protocol, file), 'utf8');
      for (const m of code.matchAll(/from\s*'([^']+)'/g)) expect(m[1]).toMatch(/^\.\/[a-z]+$/);
    }
  });
});
