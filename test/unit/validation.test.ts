/**
 * Request validation: event schemas mirror the reducer's limits, batches are all-or-nothing with
 * field paths, unsafe JSON is refused before any schema, and failures map to problem+json
 * (Cosmos DB throttling → 503 with Retry-After, never a 500 or a stack).
 */
import type { HttpRequest, InvocationContext } from '@azure/functions';
import { MAX_CAPTION, MAX_CHAT, MAX_POLL_ID, MAX_QUESTION } from '../../lib/domain/meeting';
import { createMeetingBody, parse, parseEvents, participantsQuery } from '../../lib/domain/validation';
import { IdConflictError } from '../../lib/ports';
import { ProblemError, toProblem } from '../../lib/errors';
import { httpHandler, readJson, unsafeJson } from '../../lib/http/handler';
import { REACTION_EMOJI } from '../../lib/protocol';

function problemOf(fn: () => unknown): { status: number; errors?: Array<{ path: string; message: string }> } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProblemError);
    const p = err as ProblemError;
    return { status: p.status, errors: p.options.errors };
  }
  throw new Error('expected a problem');
}

describe('event validation', () => {
  test('every event type parses with its documented data; data may be left out only where it is empty', () => {
    const events = parseEvents({
      events: [
        { id: 'a', type: 'chat.message', data: { text: 'x'.repeat(MAX_CHAT) } },
        { type: 'reaction', data: { emoji: REACTION_EMOJI[0] } },
        { type: 'hand.raise' },
        { type: 'hand.lower', data: { participantId: 'p1' } },
        { type: 'caption.segment', data: { text: '', startMs: 0, endMs: 0, final: false, lang: 'pt-BR' } },
        { type: 'speaking.start', data: {} },
        { type: 'speaking.stop' },
        {
          type: 'poll.open',
          data: { pollId: 'p'.repeat(MAX_POLL_ID), question: 'q'.repeat(MAX_QUESTION), options: ['a', 'b'] },
        },
        { type: 'poll.vote', data: { pollId: 'p', option: 9 } },
        { type: 'poll.close', data: { pollId: 'p' } },
      ],
    });
    expect(events.map((e) => e.type)).toHaveLength(10);
    expect(events[2]!.data).toEqual({});
    expect(problemOf(() => parseEvents({ type: 'hand.lower' })).status).toBe(400);
  });

  test("limits match the reducer's, so nothing the processor would drop as malformed is accepted", () => {
    const tooLong = [
      { type: 'chat.message', data: { text: 'x'.repeat(MAX_CHAT + 1) } },
      {
        type: 'caption.segment',
        data: { text: 'x'.repeat(MAX_CAPTION + 1), startMs: 0, endMs: 1, final: true },
      },
      {
        type: 'poll.open',
        data: { pollId: 'p'.repeat(MAX_POLL_ID + 1), question: 'q', options: ['a', 'b'] },
      },
      {
        type: 'poll.open',
        data: { pollId: 'p', question: 'q'.repeat(MAX_QUESTION + 1), options: ['a', 'b'] },
      },
      { type: 'hand.lower', data: { participantId: 'p'.repeat(65) } },
    ];
    for (const e of tooLong) expect(problemOf(() => parseEvents(e)).status).toBe(400);
  });

  test('a bad event in a batch names its index; repeated ids and oversized batches are refused', () => {
    const bad = problemOf(() =>
      parseEvents({ events: [{ type: 'hand.raise' }, { type: 'reaction', data: { emoji: 'x' } }] }),
    );
    expect(bad.errors![0]!.path).toBe('events[1].data.emoji');
    const dup = problemOf(() =>
      parseEvents({
        events: [
          { id: 'a', type: 'hand.raise' },
          { id: 'a', type: 'speaking.stop' },
        ],
      }),
    );
    expect(dup.errors).toEqual([{ path: 'events[1].id', message: 'repeats the id of events[0]' }]);
    const huge = problemOf(() =>
      parseEvents({ events: Array.from({ length: 5000 }, () => ({ type: 'x' })) }),
    );
    expect(huge.errors).toEqual([{ path: 'events', message: 'must contain at most 100 events' }]);
  });

  test('event ids must be Cosmos-safe and not take a server id', () => {
    for (const id of ['a/b', 'a\\b', 'a?b', 'a#b', 'x'.repeat(256), '', ' a', 'sys-started', 'Srv-1']) {
      expect(problemOf(() => parseEvents({ id, type: 'hand.raise' })).errors![0]!.path).toBe('id');
    }
  });

  test('control characters: never in ids; in chat and captions only tab, newline and carriage return', () => {
    // C0, DEL and C1 (U+0085 next line, U+009B the 8-bit CSI) in ids, as in titles and names.
    for (const id of ['a\u0000b', 'a\u001bb', 'a\u007fb', 'a\u0085b', 'a\u009bb']) {
      expect(problemOf(() => parseEvents({ id, type: 'hand.raise' })).errors![0]!.path).toBe('id');
    }
    const hostile = ['bell \u0007', 'esc \u001b[2J', 'del \u007f', 'csi \u009b31m', 'nul \u0000'];
    for (const text of hostile) {
      expect(problemOf(() => parseEvents({ type: 'chat.message', data: { text } })).status).toBe(400);
      const caption = { text, startMs: 0, endMs: 1, final: true };
      expect(problemOf(() => parseEvents({ type: 'caption.segment', data: caption })).status).toBe(400);
    }
    const multiline = 'first line\r\nsecond\tindented\nthird';
    expect(parseEvents({ type: 'chat.message', data: { text: multiline } })[0]?.data).toEqual({
      text: multiline,
    });
  });
});

describe('other inputs', () => {
  test('a meeting must end after it starts', () => {
    const p = problemOf(() =>
      parse(
        createMeetingBody,
        { title: 't', startsAt: '2030-01-01T10:00:00Z', endsAt: '2030-01-01T10:00:00Z' },
        'meeting',
      ),
    );
    expect(p.errors).toEqual([{ path: 'endsAt', message: 'must be after startsAt' }]);
  });

  test('paging limits are integers from 1 to 200', () => {
    expect(parse(participantsQuery, { limit: '200' }, 'query')).toEqual({ limit: 200 });
    for (const limit of ['0', '201', '1.5', '-1', 'ten', '']) {
      expect(problemOf(() => parse(participantsQuery, { limit }, 'query')).status).toBe(400);
    }
  });

  test('unsafe JSON is found wherever it hides', () => {
    expect(unsafeJson(JSON.parse('{"a":[{"b":{"__proto__":1}}]}'))).toEqual({
      path: 'a[0].b.__proto__',
      message: 'the key "__proto__" is not allowed',
    });
    expect(unsafeJson({ a: 'x\ud800' })?.message).toBe('contains an unpaired surrogate');
    expect(unsafeJson({ a: ['\u0000'] })?.path).toBe('a[0]');
    expect(unsafeJson(JSON.parse('['.repeat(100) + ']'.repeat(100)))?.message).toMatch(/nests deeper/);
    expect(unsafeJson({ text: '😀 ok', n: [1, { x: null }] })).toBeUndefined();
  });
});

describe('problem responses', () => {
  const request = (body: string, headers: Record<string, string>) =>
    ({
      headers: new Headers(headers),
      arrayBuffer: async () => new TextEncoder().encode(body).buffer,
    }) as unknown as HttpRequest;

  test('bodies: 415 for other media types or charsets, 413 past the limit, 400 for bad JSON', async () => {
    const status = (p: Promise<unknown>) =>
      p.then(
        () => 0,
        (e: ProblemError) => e.status,
      );
    expect(await status(readJson(request('{}', { 'content-type': 'text/plain' }), 100))).toBe(415);
    expect(
      await status(readJson(request('{}', { 'content-type': 'application/json; charset=utf-16' }), 100)),
    ).toBe(415);
    expect(
      await status(
        readJson(request('{"a":"' + 'x'.repeat(200) + '"}', { 'content-type': 'application/json' }), 100),
      ),
    ).toBe(413);
    expect(await status(readJson(request('{"a":', { 'content-type': 'application/json' }), 100))).toBe(400);
    expect(
      await readJson(request('{"a":1}', { 'content-type': 'Application/JSON; charset="UTF-8"' }), 100),
    ).toEqual({ a: 1 });
  });

  test('Cosmos DB throttling beyond the SDK retries becomes 503 with Retry-After, unavailability 503, anything else a bare 500', async () => {
    const throttled = toProblem(
      Object.assign(new Error('Request rate is large'), { code: 429, retryAfterInMs: 2300 }),
    );
    expect(throttled.status).toBe(503);
    expect(throttled.headers['retry-after']).toBe('3');
    expect(JSON.parse(throttled.body)).toMatchObject({
      status: 503,
      type: 'urn:meetstream:problem:throttled',
    });
    expect(toProblem(Object.assign(new Error('down'), { code: 'ECONNREFUSED' })).status).toBe(503);
    // A write conflict that escaped is named as one, without its internals.
    const conflict = toProblem(new IdConflictError(['sys-started']));
    expect(conflict.status).toBe(409);
    expect(conflict.body).not.toContain('sys-started');

    const logged: string[] = [];
    const ctx = { error: (m: string) => logged.push(m) } as unknown as InvocationContext;
    const handler = httpHandler(async () => {
      throw new TypeError('secret detail at /srv/app.js:1:2');
    });
    const res = await handler({} as HttpRequest, ctx);
    expect(res.status).toBe(500);
    expect(String(res.body)).not.toMatch(/secret|app\.js/);
    expect(logged).toHaveLength(1);
  });
});
