/**
 * The delivery building blocks with in-memory pages: reading the log back (paging, continuation,
 * retention gaps), the shared waiter behind long-poll and SSE, the SSE body, the Web PubSub
 * upstream checks, and the reducer's presence flag.
 */
import { createHmac } from 'node:crypto';
import { readEnvelopes, RetentionGapError, type PageSource } from '../../lib/delivery/eventLog';
import { createEventStream } from '../../lib/delivery/eventStream';
import {
  allowedOrigin,
  connectionState,
  meetingOfConnect,
  readUpstreamEvent,
  validSignature,
} from '../../lib/delivery/upstream';
import { EnvelopeWatcher } from '../../lib/delivery/watcher';
import { applyEvent, initialModel, rebuildFromEvents, snapshot } from '../../lib/domain/meeting';
import { SCHEMA_VERSION, type Envelope, type EventDocument, type PageDocument } from '../../lib/protocol';

const M = 'm1';

function env(seq: number): Envelope {
  return { seq, meetingId: M, kind: 'analytics', type: 'chatRate', data: { n: seq }, at: '' };
}

/** Pages of the given sizes, seq from `firstSeq`; `committed` defaults to the last seq. */
class MemoryPages implements PageSource {
  pages: PageDocument[] = [];
  queries = 0;
  committed: number;

  constructor(sizes: number[], firstSeq = 1) {
    let seq = firstSeq;
    for (const n of sizes) {
      const envelopes = Array.from({ length: n }, (_, i) => env(seq + i));
      this.pages.push({
        id: `page.${seq}`,
        type: 'page',
        schemaVersion: 1,
        meetingId: M,
        firstSeq: seq,
        lastSeq: seq + n - 1,
        envelopes,
        createdAt: '',
      });
      seq += n;
    }
    this.committed = seq - 1;
  }

  async pagesAfter(_m: string, after: number, max: number): Promise<PageDocument[]> {
    this.queries++;
    return this.pages.filter((p) => p.lastSeq > after).slice(0, max);
  }

  async latestPageSeq(): Promise<number> {
    this.queries++;
    return this.pages.at(-1)?.lastSeq ?? 0;
  }

  async committedSeq(): Promise<number> {
    return this.committed;
  }
}

describe('reading the log back', () => {
  test('pages of any size come back gapless, `limit` at a time, with the last seq as continuation', async () => {
    const source = new MemoryPages([3, 1, 40, 2, 7, 1, 1, 1, 1, 1, 1, 5]);
    const seen: number[] = [];
    let after = 0;
    for (;;) {
      const page = await readEnvelopes(source, M, after, 6);
      expect(page.items.length).toBeLessThanOrEqual(6);
      seen.push(...page.items.map((e) => e.seq));
      if (page.continuation === null) break;
      after = Number(page.continuation);
      expect(after).toBe(seen.at(-1));
    }
    expect(seen).toEqual(Array.from({ length: 64 }, (_, i) => i + 1));
  });

  test('reading from inside a page starts right after `after`; at the end it is empty with a null continuation', async () => {
    const source = new MemoryPages([10]);
    expect((await readEnvelopes(source, M, 4, 3)).items.map((e) => e.seq)).toEqual([5, 6, 7]);
    expect(await readEnvelopes(source, M, 10, 3)).toEqual({ items: [], continuation: null, end: true });
  });

  test('envelopes that expired (retention) raise RetentionGapError with the first seq still there', async () => {
    const source = new MemoryPages([5, 5], 11);
    await expect(readEnvelopes(source, M, 3, 10)).rejects.toEqual(new RetentionGapError(11));
    expect((await readEnvelopes(source, M, 10, 3)).items.map((e) => e.seq)).toEqual([11, 12, 13]);
    // Every page expired, but seqs were assigned: the log now starts after the committed seq.
    const empty = new MemoryPages([]);
    empty.committed = 20;
    await expect(readEnvelopes(empty, M, 3, 10)).rejects.toEqual(new RetentionGapError(21));
  });

  test('a commit landing between the page query and the state read is not mistaken for expiry', async () => {
    const source = new MemoryPages([]);
    const later = new MemoryPages([4]);
    let calls = 0;
    source.pagesAfter = async (m, after, max) => (++calls === 1 ? [] : later.pagesAfter(m, after, max));
    source.committed = 4;
    expect((await readEnvelopes(source, M, 0, 10)).items.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
  });
});

describe('waiting for new envelopes', () => {
  test('one poll loop per meeting serves every waiter, and wakes those behind the latest seq', async () => {
    const source = new MemoryPages([3]);
    const watcher = new EnvelopeWatcher(source, 20);
    const waits = Array.from({ length: 50 }, () => watcher.wait(M, 3, 2000));
    await new Promise((r) => setTimeout(r, 100));
    const queriesWhileIdle = source.queries;
    expect(queriesWhileIdle).toBeLessThanOrEqual(8); // ~100 ms / 20 ms, not 50 clients × that
    expect(watcher.watching).toBe(1);
    source.pages.push({ ...source.pages[0]!, firstSeq: 4, lastSeq: 4, envelopes: [env(4)] });
    expect(await Promise.all(waits)).toEqual(waits.map(() => true));
    await new Promise((r) => setTimeout(r, 50));
    expect(watcher.watching).toBe(0);
  });

  test('a waiter already behind wakes at once; one with nothing new times out with false', async () => {
    const watcher = new EnvelopeWatcher(new MemoryPages([3]), 20);
    expect(await watcher.wait(M, 1, 1000)).toBe(true);
    const t0 = Date.now();
    expect(await watcher.wait(M, 3, 120)).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    watcher.close();
  });
});

describe('the SSE body', () => {
  async function collect(stream: ReadableStream<Uint8Array>, chunks: number): Promise<string[]> {
    const reader = stream.getReader();
    const out: string[] = [];
    for (let i = 0; i < chunks; i++) {
      const { value, done } = await reader.read();
      if (done) break;
      out.push(new TextDecoder().decode(value));
    }
    await reader.cancel();
    return out;
  }

  test('starts with a retry hint, sends one message per envelope with id = seq, heartbeats while idle', async () => {
    const source = new MemoryPages([2, 1]);
    let now = 0;
    const stream = createEventStream({
      after: 0,
      endAt: 1000,
      heartbeatMs: 10,
      clock: () => now,
      read: (after) => readEnvelopes(source, M, after, 100),
      wait: async () => {
        now += 10;
        return false;
      },
    });
    const chunks = await collect(stream as unknown as ReadableStream<Uint8Array>, 3);
    expect(chunks[0]).toBe('retry: 1000\n: after 0\n\n');
    expect(chunks[1]).toBe([1, 2, 3].map((s) => `id: ${s}\ndata: ${JSON.stringify(env(s))}\n\n`).join(''));
    expect(chunks[2]).toBe(': keep-alive\n\n');
  });

  test('ends at its deadline, and says so when what it should send has expired', async () => {
    const source = new MemoryPages([2], 5);
    let now = 0;
    const stream = createEventStream({
      after: 0,
      endAt: 30,
      heartbeatMs: 10,
      clock: () => now,
      read: (after) => readEnvelopes(source, M, after, 100),
      wait: async () => {
        now += 10;
        return false;
      },
    });
    const chunks = await collect(stream as unknown as ReadableStream<Uint8Array>, 10);
    expect(chunks[1]).toBe(`event: expired\ndata: ${JSON.stringify({ after: 0, firstAvailableSeq: 5 })}\n\n`);
    expect(chunks[2]).toContain('id: 5\n');
    // Heartbeats at 10 and 20; at 30 the stream ends.
    expect(chunks.slice(3)).toEqual([': keep-alive\n\n', ': keep-alive\n\n']);
  });
});

/** A header reader over lower-case names, as the Functions `Headers` object reads. */
const headers = (h: Record<string, string>) => ({ get: (n: string) => h[n.toLowerCase()] ?? null });

describe('Web PubSub upstream checks', () => {
  const key = 'access-key';
  const sign = (id: string, k = key) => 'sha256=' + createHmac('sha256', k).update(id).digest('hex');

  test('signatures: HMAC-SHA256 of the connection id with the access key; any of several may match', () => {
    expect(validSignature(sign('c1'), 'c1', key)).toBe(true);
    expect(validSignature(`${sign('c1', 'old')}, ${sign('c1')}`, 'c1', key)).toBe(true);
    expect(validSignature(sign('c1', 'other'), 'c1', key)).toBe(false);
    expect(validSignature(sign('c2'), 'c1', key)).toBe(false);
    expect(validSignature(null, 'c1', key)).toBe(false);
    expect(validSignature(sign('c1'), 'c1', '')).toBe(false);
  });

  test('abuse protection allows only the configured service hosts', () => {
    const allowed = ['hub.webpubsub.azure.com'];
    expect(allowedOrigin(headers({ 'webhook-request-origin': 'HUB.webpubsub.azure.com' }), allowed)).toBe(
      'HUB.webpubsub.azure.com',
    );
    expect(allowedOrigin(headers({ 'webhook-request-origin': 'evil.example' }), allowed)).toBeUndefined();
    expect(allowedOrigin(headers({}), allowed)).toBeUndefined();
  });

  test('events: connect/connected/disconnected recognised, wrong hub and bad signatures refused', () => {
    const base = {
      'ce-type': 'azure.webpubsub.sys.connected',
      'ce-connectionid': 'c1',
      'ce-hub': 'Meetstream',
    };
    expect(
      readUpstreamEvent(
        headers({ ...base, 'ce-signature': sign('c1'), 'ce-userid': 'p1' }),
        key,
        'meetstream',
      ),
    ).toEqual({
      ok: true,
      event: { kind: 'connected', userId: 'p1', connectionId: 'c1', meetingId: undefined },
    });
    expect(
      readUpstreamEvent(
        headers({
          ...base,
          'ce-type': 'azure.webpubsub.sys.connect',
          'ce-signature': sign('c1'),
          'ce-userid': 'p1',
        }),
        key,
        'meetstream',
      ),
    ).toEqual({
      ok: true,
      event: { kind: 'connect', userId: 'p1', connectionId: 'c1', meetingId: undefined },
    });
    expect(
      readUpstreamEvent(
        headers({ ...base, 'ce-type': 'azure.webpubsub.sys.disconnected', 'ce-signature': sign('c1') }),
        key,
        'meetstream',
      ),
    ).toEqual({
      ok: true,
      event: { kind: 'disconnected', userId: undefined, connectionId: 'c1', meetingId: undefined },
    });
    expect(
      readUpstreamEvent(headers({ ...base, 'ce-signature': sign('c1', 'x') }), key, 'meetstream'),
    ).toMatchObject({
      ok: false,
      status: 401,
    });
    expect(readUpstreamEvent(headers({ ...base, 'ce-signature': sign('c1') }), key, 'other')).toMatchObject({
      ok: false,
      status: 400,
    });
    expect(readUpstreamEvent(headers({}), key, 'meetstream')).toMatchObject({ ok: false, status: 400 });
  });
});

describe('the blocking connect event', () => {
  test('names the meeting the client URL asks for, from the documented query field', () => {
    expect(meetingOfConnect({ query: { meeting: ['m1'] }, claims: {} })).toBe('m1');
    expect(meetingOfConnect({ query: { meeting: 'm1' } })).toBe('m1');
  });

  test('ignores the token claims, whose shape the service does not document', () => {
    // Raw JWT claim names, and the .NET ClaimTypes URIs the service may map some of them to.
    const claims = {
      'webpubsub.group': ['meeting.m1'],
      'http://schemas.microsoft.com/ws/2008/06/identity/claims/role': ['webpubsub.joinLeaveGroup.meeting.m1'],
    };
    expect(meetingOfConnect({ claims })).toBeUndefined();
    expect(meetingOfConnect({ claims, query: { meeting: ['m2'] } })).toBe('m2');
  });

  test('anything else names no meeting, so the connection is refused', () => {
    for (const body of [
      undefined,
      null,
      'meeting=m1',
      {},
      { query: null },
      { query: {} },
      { query: { meeting: [] } },
      { query: { meeting: ['m1', 'm2'] } },
      { query: { meeting: [''] } },
      { query: { meeting: [42] } },
      { query: { Meeting: ['m1'] } },
    ]) {
      expect(meetingOfConnect(body)).toBeUndefined();
    }
  });

  test('the connection state our answer sets comes back on later events as the meeting', () => {
    const later = (state: string | undefined) =>
      readUpstreamEvent(
        headers({
          'ce-type': 'azure.webpubsub.sys.disconnected',
          'ce-connectionid': 'c1',
          'ce-hub': 'meetstream',
          'ce-signature': 'sha256=' + createHmac('sha256', 'k').update('c1').digest('hex'),
          ...(state === undefined ? {} : { 'ce-connectionstate': state }),
        }),
        'k',
        'meetstream',
      );
    expect(later(connectionState('m-42'))).toMatchObject({ ok: true, event: { meetingId: 'm-42' } });
    // No state, someone else's state or garbage: no meeting (nothing is looked up across partitions).
    for (const state of [undefined, '', 'not base64 json', Buffer.from('{"x":1}').toString('base64')])
      expect(later(state)).toMatchObject({ ok: true, event: { meetingId: undefined } });
  });
});

describe('presence in the meeting model', () => {
  let t = 1_000;
  const event = (eventType: EventDocument['eventType'], data: Record<string, unknown>): EventDocument => ({
    id: `e${t}`,
    type: 'event',
    schemaVersion: SCHEMA_VERSION,
    meetingId: M,
    eventType,
    data,
    participantId: (data.participantId as string) ?? null,
    role: null,
    receivedAt: (t += 10),
  });
  const rosterOf = (out: ReturnType<typeof applyEvent>) =>
    out
      .filter((e) => e.kind === 'state')
      .map(
        (e) =>
          `${String((e.data as { change: string }).change)}:${String((e.data as { participant: { connected?: boolean } }).participant.connected)}`,
      );

  test('away and back flip the roster `connected` flag of a present member, once each', () => {
    const model = initialModel();
    const events = [
      event('participant.joined', { participantId: 'a', displayName: 'Ann', role: 'attendee' }),
      event('participant.away', { participantId: 'a' }),
      event('participant.away', { participantId: 'a' }),
      event('participant.back', { participantId: 'a' }),
      event('participant.back', { participantId: 'a' }),
      event('participant.away', { participantId: 'a' }),
      event('participant.left', { participantId: 'a', reason: 'left' }),
      event('participant.back', { participantId: 'a' }),
      event('participant.away', { participantId: 'nobody' }),
    ];
    const out = events.map((e) => applyEvent(model, e, t));
    expect(out.map(rosterOf)).toEqual([
      ['joined:true'],
      ['away:false'],
      [],
      ['back:true'],
      [],
      ['away:false'],
      ['left:undefined'],
      [],
      [],
    ]);
    // Every one is still an accepted event with its envelope.
    expect(out.every((o) => o[0]?.kind === 'event')).toBe(true);
    // A rejoin clears `away`; the rebuild from the events alone agrees with the live model.
    applyEvent(
      model,
      event('participant.joined', { participantId: 'a', displayName: 'Ann', role: 'attendee' }),
      t,
    );
    expect(snapshot(model, t).roster[0]).toMatchObject({ present: true, connected: true });
    const all = [...events, event('participant.away', { participantId: 'a' })];
    const live = initialModel();
    for (const e of all) applyEvent(live, e, t);
    expect(snapshot(rebuildFromEvents(all, t).model, t)).toEqual(snapshot(live, t));
  });
});
