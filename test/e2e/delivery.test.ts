/**
 * Delivery on the real local stack: the catch-up route, long-poll and SSE serve exactly the
 * committed log, only to the meeting's own participants; the typed client ends with the log's exact
 * sequence on every transport, including after a WebSocket session that could not be recovered.
 */
import { WebPubSubServiceClient } from '@azure/web-pubsub';
import { MeetstreamClient, SseParser, type Transport } from '../../client';
import type { Envelope, EventsPage } from '../../lib/protocol';
import {
  api,
  createMeeting,
  join,
  sleep,
  startTestStack,
  testClientOptions,
  waitUntil,
  type ApiResponse,
  type CreatedMeeting,
  type TestStack,
  storedLog,
  storedPages,
} from '../support/stack';

async function postChats(
  stack: TestStack,
  meeting: CreatedMeeting,
  prefix: string,
  n: number,
): Promise<void> {
  for (let i = 0; i < n; i += 10) {
    const events = Array.from({ length: Math.min(10, n - i) }, (_, k) => ({
      id: `${prefix}-${i + k}`,
      type: 'chat.message',
      data: { text: `${prefix} ${i + k}` },
    }));
    const res = await api(stack, 'POST', `/meetings/${meeting.meetingId}/events`, {
      token: meeting.hostToken,
      body: { events },
    });
    expect(res.status).toBe(202);
  }
}

/** Waits until the stored log holds the chat with `id`, and returns the log. */
async function logWith(stack: TestStack, meetingId: string, id: string): Promise<Envelope[]> {
  let log: Envelope[] = [];
  await waitUntil(async () => {
    log = await storedLog(stack, meetingId);
    return log.some((e) => e.kind === 'event' && e.id === id);
  }, 20_000);
  return log;
}

/** Reads the whole log through the catch-up route, `limit` at a time. */
async function readAll(
  stack: TestStack,
  meetingId: string,
  token: string,
  limit: number,
): Promise<Envelope[]> {
  const out: Envelope[] = [];
  let after = '0';
  for (;;) {
    const res = await api<EventsPage>(
      stack,
      'GET',
      `/meetings/${meetingId}/events?after=${after}&limit=${limit}`,
      {
        token,
      },
    );
    expect(res.status).toBe(200);
    expect(res.body.items.length).toBeLessThanOrEqual(limit);
    out.push(...res.body.items);
    if (res.body.continuation === null) return out;
    after = res.body.continuation;
  }
}

describe('delivery routes and the typed client', () => {
  let stack: TestStack;
  const clients: MeetstreamClient[] = [];

  beforeAll(async () => {
    stack = await startTestStack({ EVENT_RETENTION_DAYS: '3', SSE_MAX_SECONDS: '2' });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await stack?.cleanup();
  });

  const typedClient = (meeting: CreatedMeeting, transport: Transport, token = meeting.hostToken) => {
    const client = new MeetstreamClient({
      baseUrl: stack.apiUrl,
      meetingId: meeting.meetingId,
      token,
      transport,
      webPubSub: testClientOptions,
      longPollSeconds: 5,
    });
    clients.push(client);
    const received: Envelope[] = [];
    client.onEnvelope((e) => received.push(e));
    return { client, received };
  };

  test('one paging convention: following `next` as `?cursor=` reads every item exactly once on the catch-up and participants routes', async () => {
    const meeting = await createMeeting(stack, 'paging convention');
    await postChats(stack, meeting, 'p', 12);
    const log = await logWith(stack, meeting.meetingId, 'p-11');
    for (const name of ['A', 'B', 'C']) await join(stack, meeting, name);
    /** A generic client: the first page, then `?cursor=<next>` until `next` is null. */
    const follow = async <T>(path: string): Promise<T[]> => {
      const items: T[] = [];
      let cursor: string | null = null;
      for (let pages = 0; pages < 100; pages++) {
        const sep = path.includes('?') ? '&' : '?';
        const res: ApiResponse<{ items: T[]; next: string | null }> = await api(
          stack,
          'GET',
          cursor === null ? path : `${path}${sep}cursor=${encodeURIComponent(cursor)}`,
          { token: meeting.hostToken },
        );
        expect(res.status).toBe(200);
        items.push(...res.body.items);
        if (res.body.next === null) return items;
        cursor = res.body.next;
      }
      throw new Error('the pages never ended');
    };
    const envelopes = await follow<Envelope>(`/meetings/${meeting.meetingId}/events?limit=5`);
    expect(envelopes.slice(0, log.length)).toEqual(log);
    expect(envelopes.map((e) => e.seq)).toEqual(envelopes.map((_, i) => i + 1));
    const people = await follow<{ id: string }>(`/meetings/${meeting.meetingId}/participants?limit=2`);
    expect(people).toHaveLength(4);
    expect(new Set(people.map((p) => p.id)).size).toBe(4);

    // The participants route's former parameter is not the catch-up's: refused, never ignored.
    for (const bad of [
      'continuation=5',
      'after=1&cursor=2',
      'cursor=abc',
      'limit=1001',
      'wait=31',
      'other=1',
    ]) {
      const res = await api(stack, 'GET', `/meetings/${meeting.meetingId}/events?${bad}`, {
        token: meeting.hostToken,
      });
      expect(res.status).toBe(400);
    }
  });

  test('the catch-up route pages through exactly the stored log, in order, with a continuation', async () => {
    const meeting = await createMeeting(stack, 'catch-up');
    await postChats(stack, meeting, 'c', 30);
    const log = await logWith(stack, meeting.meetingId, 'c-29');
    const served = await readAll(stack, meeting.meetingId, meeting.hostToken, 7);
    // Envelopes committed after `log` was read (analytics ticks) may follow: compare the prefix.
    expect(served.slice(0, log.length)).toEqual(log);
    expect(served.map((e) => e.seq)).toEqual(served.map((_, i) => i + 1));

    // Reading from the middle gives the same envelopes.
    const middle = await api<EventsPage>(
      stack,
      'GET',
      `/meetings/${meeting.meetingId}/events?after=10&limit=5`,
      {
        token: meeting.hostToken,
      },
    );
    expect(middle.body).toEqual({ items: log.slice(10, 15), next: '15', continuation: '15' });

    // Pages expire with the meeting's retention (EVENT_RETENTION_DAYS), through Cosmos DB TTL.
    const pages = await storedPages(stack, meeting.meetingId);
    expect(pages.every((p) => p.ttl === 3 * 86_400)).toBe(true);
  });

  test('bad query values are refused with 400, a missing token with 401', async () => {
    const meeting = await createMeeting(stack, 'validation');
    for (const query of ['after=-1', 'after=x', 'limit=0', 'limit=1001', 'wait=31', 'after=1.5']) {
      const res = await api(stack, 'GET', `/meetings/${meeting.meetingId}/events?${query}`, {
        token: meeting.hostToken,
      });
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
    expect((await api(stack, 'GET', `/meetings/${meeting.meetingId}/events`)).status).toBe(401);
    expect((await api(stack, 'GET', `/meetings/${meeting.meetingId}/events/stream`)).status).toBe(401);
  });

  test("a token for meeting A cannot read B's catch-up, SSE or long-poll (403)", async () => {
    const a = await createMeeting(stack, 'A');
    const b = await createMeeting(stack, 'B');
    const attendeeOfA = await join(stack, a, 'Ann');
    for (const token of [a.hostToken, attendeeOfA.token]) {
      const catchUp = await api(stack, 'GET', `/meetings/${b.meetingId}/events?after=0`, { token });
      const longPoll = await api(stack, 'GET', `/meetings/${b.meetingId}/events?after=0&wait=5`, { token });
      const sse = await api(stack, 'GET', `/meetings/${b.meetingId}/events/stream`, {
        token,
        headers: { accept: 'text/event-stream' },
      });
      // A stream ticket is for one meeting too: A's ticket opens nothing of B's, and B's ticket
      // cannot be had with A's token.
      const ticketOfA = await api<{ ticket: string }>(
        stack,
        'POST',
        `/meetings/${a.meetingId}/events/stream-ticket`,
        {
          token,
        },
      );
      const sseTicket = await api(
        stack,
        'GET',
        `/meetings/${b.meetingId}/events/stream?ticket=${ticketOfA.body.ticket}`,
      );
      const ticketOfB = await api(stack, 'POST', `/meetings/${b.meetingId}/events/stream-ticket`, { token });
      expect([catchUp.status, longPoll.status, sse.status, sseTicket.status, ticketOfB.status]).toEqual([
        403, 403, 403, 403, 403,
      ]);
      expect(catchUp.headers.get('content-type')).toContain('application/problem+json');
    }
    // And the typed client refuses to start with it.
    await expect(typedClient(b, 'long-poll', a.hostToken).client.start()).rejects.toMatchObject({
      status: 403,
    });
    await expect(typedClient(b, 'sse', a.hostToken).client.start()).rejects.toMatchObject({ status: 403 });
  });

  test('a long-poll answers as soon as the next envelope is committed, and empty after `wait` otherwise', async () => {
    const meeting = await createMeeting(stack, 'long-poll');
    await postChats(stack, meeting, 'lp', 1);
    const log = await logWith(stack, meeting.meetingId, 'lp-0');
    // Analytics ticks keep adding envelopes while the meeting is live: wait on the latest seq.
    const after = (await readAll(stack, meeting.meetingId, meeting.hostToken, 1000)).length;
    expect(after).toBeGreaterThanOrEqual(log.length);

    const started = Date.now();
    const polling = api<EventsPage>(
      stack,
      'GET',
      `/meetings/${meeting.meetingId}/events?after=${after}&wait=20`,
      {
        token: meeting.hostToken,
      },
    );
    await sleep(300);
    await postChats(stack, meeting, 'lp2', 1);
    const res = await polling;
    expect(res.status).toBe(200);
    expect(res.body.items.length).toBeGreaterThan(0);
    expect(res.body.items[0]!.seq).toBe(after + 1);
    expect(Date.now() - started).toBeLessThan(10_000);

    // Nothing after a seq far ahead: empty after the wait.
    const t0 = Date.now();
    const idle = await api<EventsPage>(
      stack,
      'GET',
      `/meetings/${meeting.meetingId}/events?after=1000000&wait=1`,
      {
        token: meeting.hostToken,
      },
    );
    expect(idle.body).toEqual({ items: [], next: null, continuation: null });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
  });

  test('SSE sends each envelope with its seq as id, resumes after Last-Event-ID, and ends after its lifetime', async () => {
    const meeting = await createMeeting(stack, 'sse');
    await postChats(stack, meeting, 's', 10);
    const log = await logWith(stack, meeting.meetingId, 's-9');

    const read = async (headers: Record<string, string>, query = '') => {
      const res = await fetch(`${stack.apiUrl}/meetings/${meeting.meetingId}/events/stream${query}`, {
        headers,
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const messages: Array<{ id?: string; data: string }> = [];
      const parser = new SseParser((m) => messages.push(m));
      const decoder = new TextDecoder();
      const started = Date.now();
      // SSE_MAX_SECONDS is 2 here: the server ends the stream, the loop ends.
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
        parser.push(decoder.decode(chunk));
      return { messages, ms: Date.now() - started };
    };

    const full = await read({ authorization: `Bearer ${meeting.hostToken}` });
    expect(full.ms).toBeGreaterThan(1500);
    const envelopes = full.messages.map((m) => JSON.parse(m.data) as Envelope);
    expect(envelopes.slice(0, log.length)).toEqual(log);
    expect(full.messages.every((m, i) => m.id === String(envelopes[i]!.seq))).toBe(true);

    // EventSource-style resume: Last-Event-ID, a stream ticket in the query (EventSource cannot
    // set headers, and the participant token must not go in a URL).
    const issued = await api<{ ticket: string; expiresAt: string }>(
      stack,
      'POST',
      `/meetings/${meeting.meetingId}/events/stream-ticket`,
      { token: meeting.hostToken },
    );
    expect(issued.status).toBe(200);
    expect(Date.parse(issued.body.expiresAt) - Date.now()).toBeLessThanOrEqual(30_000);
    const resumed = await read({ 'last-event-id': '4' }, `?ticket=${issued.body.ticket}`);
    const again = resumed.messages.map((m) => JSON.parse(m.data) as Envelope);
    expect(again[0]!.seq).toBe(5);
    expect(again.slice(0, log.length - 4)).toEqual(log.slice(4));
  });

  test('a participant token in the stream URL is refused with 400, and a stream ticket opens nothing but a stream', async () => {
    const meeting = await createMeeting(stack, 'tickets');
    const inUrl = await api(
      stack,
      'GET',
      `/meetings/${meeting.meetingId}/events/stream?access_token=${meeting.hostToken}`,
    );
    expect(inUrl.status).toBe(400);
    expect(inUrl.headers.get('content-type')).toContain('application/problem+json');
    expect(JSON.stringify(inUrl.body)).not.toContain(meeting.hostToken);
    const { body } = await api<{ ticket: string }>(
      stack,
      'POST',
      `/meetings/${meeting.meetingId}/events/stream-ticket`,
      {
        token: meeting.hostToken,
      },
    );
    // As a bearer token on any other route, or to ask for more tickets, it is not a token.
    for (const [method, route] of [
      ['GET', `/meetings/${meeting.meetingId}/events?after=0`],
      ['POST', `/meetings/${meeting.meetingId}/negotiate`],
      ['POST', `/meetings/${meeting.meetingId}/events/stream-ticket`],
    ] as const)
      expect((await api(stack, method, route, { token: body.ticket })).status).toBe(401);
  });

  test('typed clients on WebSocket, SSE and long-poll end with the same sequence as the log, with typed events', async () => {
    const meeting = await createMeeting(stack, 'typed');
    const ann = await join(stack, meeting, 'Ann');
    const ws = typedClient(meeting, 'websocket');
    const sse = typedClient(meeting, 'sse', ann.token);
    const lp = typedClient(meeting, 'long-poll', ann.token);
    const texts: string[] = [];
    ws.client.onChat((e) => texts.push(e.data.text));
    const rosterChanges: string[] = [];
    sse.client.onRoster((data) => rosterChanges.push(`${data.change}:${data.participant.displayName}`));
    let attendance = 0;
    lp.client.onAnalytics('attendance', (data) => (attendance = data.peak));
    await Promise.all([ws.client.start(), sse.client.start(), lp.client.start()]);

    await postChats(stack, meeting, 't', 25);
    const log = await logWith(stack, meeting.meetingId, 't-24');
    const last = log[log.length - 1]!.seq;
    await waitUntil(() => [ws, sse, lp].every((c) => c.client.lastSeq >= last), 20_000);
    for (const c of [ws, sse, lp]) expect(c.received.slice(0, log.length)).toEqual(log);
    expect(texts).toEqual(Array.from({ length: 25 }, (_, i) => `t ${i}`));
    expect(rosterChanges).toEqual(['joined:Host', 'joined:Ann']);
    expect(attendance).toBe(2);
    expect([ws.client.transport, sse.client.transport, lp.client.transport]).toEqual([
      'websocket',
      'sse',
      'long-poll',
    ]);
  });

  test('a long-poll client in a meeting receiving 50 events/s stays inside its request budget and misses nothing', async () => {
    const meeting = await createMeeting(stack, 'busy');
    const posters = [meeting.hostToken];
    for (const name of ['Ann', 'Bob', 'Cy']) posters.push((await join(stack, meeting, name)).token);
    const reader = await join(stack, meeting, 'Reader');
    const polls: string[] = [];
    const errors: string[] = [];
    const client = new MeetstreamClient({
      baseUrl: stack.apiUrl,
      meetingId: meeting.meetingId,
      token: reader.token,
      transport: 'long-poll',
      fetch: (input, init) => {
        polls.push(String(input));
        return fetch(input, init);
      },
    });
    clients.push(client);
    client.onError((e) => errors.push(e.message));
    const received: Envelope[] = [];
    client.onEnvelope((e) => received.push(e));
    await client.start();

    // 50 events/s for 6 s: a batch of 5 every 100 ms, the posters taking turns (each within its own
    // event budget). Every long-poll of the reader finds something new at once.
    const t0 = Date.now();
    for (let i = 0; i < 60; i++) {
      const events = Array.from({ length: 5 }, (_, k) => ({
        id: `busy-${i * 5 + k}`,
        type: 'chat.message',
        data: { text: `busy ${i * 5 + k}` },
      }));
      const res = await api(stack, 'POST', `/meetings/${meeting.meetingId}/events`, {
        token: posters[i % posters.length],
        body: { events },
      });
      expect(res.status).toBe(202);
      await sleep(Math.max(0, t0 + (i + 1) * 100 - Date.now()));
    }
    const log = await logWith(stack, meeting.meetingId, 'busy-299');
    await waitUntil(() => client.lastSeq >= log[log.length - 1]!.seq, 20_000);
    const seconds = (Date.now() - t0) / 1000;

    expect(received.slice(0, log.length)).toEqual(log);
    expect(errors.filter((e) => / 429 /.test(e))).toEqual([]);
    // The default budget is 5 requests/s; the client keeps to about 2 (polling as fast as answers
    // came, it made 6-7/s here, which outruns the budget once its burst is spent).
    expect(polls.length).toBeLessThanOrEqual(Math.ceil(seconds * 2) + 2);
  });

  test('a WebSocket client whose session cannot be recovered reconnects fresh and fills what it missed from the log', async () => {
    const meeting = await createMeeting(stack, 'unrecoverable');
    const { client, received } = typedClient(meeting, 'websocket');
    const gaps: string[] = [];
    client.onGap((g) => gaps.push(g.reason));
    await client.start();
    await postChats(stack, meeting, 'before', 5);
    await waitUntil(() => received.some((e) => e.kind === 'event' && e.id === 'before-4'));

    // The network drops and the hub ends the session (what an outage past the recovery window does).
    const hub = new WebPubSubServiceClient(stack.env.WebPubSubConnectionString!, 'meetstream', {
      allowInsecureConnection: true,
    });
    const dropped = client.connectionId!;
    dropSocket(client);
    await hub.closeConnection(dropped);
    await postChats(stack, meeting, 'during', 10);
    await postChats(stack, meeting, 'after', 5);
    const log = await logWith(stack, meeting.meetingId, 'after-4');
    await waitUntil(() => client.lastSeq >= log[log.length - 1]!.seq, 20_000);
    expect(received.slice(0, log.length)).toEqual(log);
    expect(client.connectionId).not.toBe(dropped);
    expect(gaps).toContain('reconnect');
  });

  test('a stopped client resumes where it left off, and a new client can resume from a saved lastSeq', async () => {
    const meeting = await createMeeting(stack, 'resume');
    const first = typedClient(meeting, 'websocket');
    await first.client.start();
    await postChats(stack, meeting, 'r1', 5);
    await waitUntil(() => first.received.some((e) => e.kind === 'event' && e.id === 'r1-4'));
    await first.client.stop();
    const saved = first.client.lastSeq;

    await postChats(stack, meeting, 'r2', 5);
    await first.client.start();
    const second = new MeetstreamClient({
      baseUrl: stack.apiUrl,
      meetingId: meeting.meetingId,
      token: meeting.hostToken,
      transport: 'long-poll',
      after: saved,
      longPollSeconds: 5,
    });
    clients.push(second);
    const resumed: Envelope[] = [];
    second.onEnvelope((e) => resumed.push(e));
    await second.start();
    const log = await logWith(stack, meeting.meetingId, 'r2-4');
    const last = log[log.length - 1]!.seq;
    await waitUntil(() => first.client.lastSeq >= last && second.lastSeq >= last, 20_000);
    expect(first.received.slice(0, log.length)).toEqual(log);
    expect(resumed.slice(0, log.length - saved)).toEqual(log.slice(saved));
  });

  test.each(['websocket', 'sse', 'long-poll'] as const)(
    'start() after stop() on %s resolves only once what was missed meanwhile is delivered',
    async (transport) => {
      const meeting = await createMeeting(stack, `restart ${transport}`);
      const c = typedClient(meeting, transport);
      await c.client.start();
      await c.client.stop();
      await postChats(stack, meeting, `m-${transport}`, 5);
      const log = await logWith(stack, meeting.meetingId, `m-${transport}-4`);
      await c.client.start();
      // The documented promise: start() includes the initial catch-up, nothing to wait for.
      expect(c.client.lastSeq).toBeGreaterThanOrEqual(log[log.length - 1]!.seq);
    },
  );
});

/** Cuts the client's socket without a close handshake, as a network failure would. */
function dropSocket(client: MeetstreamClient): void {
  // The Web PubSub client keeps its socket private; reaching it is a test-only shortcut.
  const ws = (client.webPubSubClient as unknown as { _wsClient?: { _socket?: { terminate(): void } } })
    ._wsClient;
  ws?._socket?.terminate();
}
