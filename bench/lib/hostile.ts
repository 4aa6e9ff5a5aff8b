/**
 * Hostile input replayed under load (reliability suite): malformed and oversized bodies, wrong
 * media types, invalid UTF-8, bad and reserved ids, prototype keys, forged server fields, role
 * violations, bad tokens. The categories and expected answers follow the domain's hostile-input
 * tests (test/e2e/hostile.test.ts); this corpus is the bench's own, aimed at the meetings under
 * load with real participant tokens, so anything wrongly accepted would show up in the
 * participants' sequences. Every answer must be the expected 4xx as problem+json.
 */
import { createHmac } from 'node:crypto';
import * as http from 'node:http';

export interface HostileCase {
  name: string;
  method?: string;
  /** Under /api; `M` is replaced by the target meeting id. */
  route?: string;
  auth?: 'participant' | 'none' | 'other-meeting' | { header: string };
  contentType?: string | null;
  body?: string | Buffer | Record<string, unknown> | unknown[];
  status: number;
}

const ev = (type: unknown, data?: unknown, extra: Record<string, unknown> = {}) => ({
  type,
  ...(data === undefined ? {} : { data }),
  ...extra,
});
const chat = (text: unknown, extra: Record<string, unknown> = {}) => ev('chat.message', { text }, extra);
const withId = (id: unknown) => ({ id, ...chat('hi') });

export function hostileCases(tag: string): HostileCase[] {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const forged = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ m: 'x', p: 'y', r: 'host', exp: 9e9 })}.${createHmac('sha256', 'not-the-secret').update('x').digest('base64url')}`;
  const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ m: 'x', p: 'y', r: 'host', exp: 9e9 })}.`;
  const id = (n: string) => `hostile-${tag}-${n}`;
  return [
    // malformed bodies
    { name: 'truncated JSON', body: '{"type":"chat.message","data":{"text":"hi"}', status: 400 },
    { name: 'trailing garbage', body: '{"type":"hand.raise"} x', status: 400 },
    { name: 'JSON with comments', body: '{"type":"hand.raise" /* hi */}', status: 400 },
    { name: 'NaN literal', body: '{"type":"poll.vote","data":{"pollId":"p","option":NaN}}', status: 400 },
    { name: 'empty body', body: '', status: 400 },
    { name: 'null body', body: 'null', status: 400 },
    { name: 'array body', body: [], status: 400 },
    { name: 'invalid UTF-8', body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), status: 400 },
    { name: 'NUL in text', body: '{"type":"chat.message","data":{"text":"a\\u0000b"}}', status: 400 },
    { name: 'arrays nested 10,000 deep', body: '['.repeat(10_000) + ']'.repeat(10_000), status: 400 },
    // media types and size
    { name: 'text/plain', contentType: 'text/plain', body: chat('hi'), status: 415 },
    { name: 'no content type', contentType: null, body: chat('hi'), status: 415 },
    { name: 'XML', contentType: 'application/xml', body: '<event type="chat.message"/>', status: 415 },
    { name: 'body over 1 MiB', body: chat('x'.repeat(1_100_000)), status: 413 },
    // types and data
    { name: 'unknown type', body: ev('chat.delete', { messageId: 'x' }), status: 400 },
    { name: 'type is a number', body: ev(7, {}), status: 400 },
    { name: 'client sends meeting.ended', body: ev('meeting.ended', {}), status: 400 },
    {
      name: 'client sends participant.joined',
      body: ev('participant.joined', { participantId: 'x', displayName: 'x', role: 'host' }),
      status: 400,
    },
    { name: 'chat text over 4,000 characters', body: chat('a'.repeat(4001)), status: 400 },
    { name: 'chat text blank', body: chat('  \n\t'), status: 400 },
    {
      name: 'chat with an unknown field',
      body: ev('chat.message', { text: 'hi', html: '<b>' }),
      status: 400,
    },
    { name: 'forged receivedAt', body: chat('hi', { receivedAt: 0 }), status: 400 },
    { name: 'forged participantId', body: chat('hi', { participantId: 'someone-else' }), status: 400 },
    { name: 'forged seq', body: chat('hi', { seq: 1 }), status: 400 },
    { name: 'reaction outside the allow-list', body: ev('reaction', { emoji: '🦄' }), status: 400 },
    { name: 'HTML as emoji', body: ev('reaction', { emoji: '<img src=x onerror=alert(1)>' }), status: 400 },
    {
      name: 'caption ends before it starts',
      body: ev('caption.segment', { text: 'a', startMs: 100, endMs: 10, final: true }),
      status: 400,
    },
    {
      name: 'caption start overflowing',
      body: '{"type":"caption.segment","data":{"text":"a","startMs":1e400,"endMs":1,"final":true}}',
      status: 400,
    },
    { name: 'hand.raise with data', body: ev('hand.raise', { x: 1 }), status: 400 },
    { name: 'vote option negative', body: ev('poll.vote', { pollId: 'p', option: -1 }), status: 400 },
    { name: 'SQL in a poll id', body: ev('poll.vote', { pollId: "' OR 1=1 --", option: 0 }), status: 400 },
    // ids
    { name: 'id with a slash', body: withId('a/b'), status: 400 },
    { name: 'id with a hash', body: withId('a#b'), status: 400 },
    { name: 'id with a question mark', body: withId('a?b'), status: 400 },
    { name: 'id of 256 characters', body: withId('i'.repeat(256)), status: 400 },
    { name: 'id with a newline', body: withId('a\nb'), status: 400 },
    { name: 'id taking a server event id', body: withId('sys-ended'), status: 400 },
    { name: 'id with a reserved prefix', body: withId('SRV-1'), status: 400 },
    // prototype keys
    { name: '__proto__ at the top', body: '{"__proto__":{"admin":true},"type":"hand.raise"}', status: 400 },
    {
      name: '__proto__ in data',
      body: '{"type":"chat.message","data":{"text":"hi","__proto__":{"x":1}}}',
      status: 400,
    },
    {
      name: 'constructor.prototype',
      body: '{"constructor":{"prototype":{"x":1}},"type":"hand.raise"}',
      status: 400,
    },
    // batches
    { name: 'empty batch', body: { events: [] }, status: 400 },
    {
      name: 'batch of 101',
      body: { events: Array.from({ length: 101 }, (_, i) => ({ id: id(`b${i}`), ...chat('x') })) },
      status: 400,
    },
    {
      name: 'batch with duplicate ids',
      body: { events: [{ ...withId(id('dup')) }, { ...withId(id('dup')) }] },
      status: 400,
    },
    {
      name: 'batch with one invalid event',
      body: { events: [{ id: id('ok1'), ...chat('fine') }, chat('')] },
      status: 400,
    },
    {
      name: 'batch with one forbidden event',
      body: {
        events: [
          { id: id('ok2'), ...chat('fine') },
          ev('poll.open', { pollId: 'p', question: 'Q?', options: ['a', 'b'] }),
        ],
      },
      status: 403,
    },
    // roles and state
    {
      name: 'attendee opens a poll',
      body: {
        id: id('poll'),
        ...ev('poll.open', { pollId: `p-${tag}`, question: 'Q?', options: ['a', 'b'] }),
      },
      status: 403,
    },
    {
      name: "attendee lowers another's hand",
      body: { id: id('lower'), ...ev('hand.lower', { participantId: 'someoneelse' }) },
      status: 403,
    },
    {
      name: 'vote on an unknown poll',
      body: { id: id('vote'), ...ev('poll.vote', { pollId: `nope-${tag}`, option: 0 }) },
      status: 404,
    },
    // auth
    { name: 'no Authorization', auth: 'none', body: { id: id('noauth'), ...chat('hi') }, status: 401 },
    {
      name: 'Basic auth',
      auth: { header: 'Basic YWRtaW46YWRtaW4=' },
      body: { id: id('basic'), ...chat('hi') },
      status: 401,
    },
    {
      name: 'garbage token',
      auth: { header: 'Bearer not.a.token' },
      body: { id: id('garbage'), ...chat('hi') },
      status: 401,
    },
    {
      name: 'alg none token',
      auth: { header: `Bearer ${none}` },
      body: { id: id('none'), ...chat('hi') },
      status: 401,
    },
    {
      name: 'token signed with another secret',
      auth: { header: `Bearer ${forged}` },
      body: { id: id('forged'), ...chat('hi') },
      status: 401,
    },
    {
      name: 'token of another meeting',
      auth: 'other-meeting',
      body: { id: id('other'), ...chat('hi') },
      status: 403,
    },
    { name: 'huge token', auth: { header: `Bearer ${'a'.repeat(5000)}` }, body: chat('hi'), status: 401 },
    // routes
    { name: 'wrong method on events', method: 'PUT', body: chat('hi'), status: 405 },
    {
      name: 'Cosmos SQL in the meeting id',
      route: "meetings/x' OR 1=1 --/events",
      body: chat('hi'),
      status: 400,
    },
    {
      name: 'join with a wrong code',
      route: 'meetings/M/join',
      auth: 'none',
      body: { displayName: 'Mallory', joinCode: 'WRONGCODE1' },
      status: 403,
    },
    {
      name: 'join asking to be host',
      route: 'meetings/M/join',
      auth: 'none',
      body: { displayName: 'Mallory', joinCode: 'X', role: 'host' },
      status: 400,
    },
  ];
}

export interface HostileOutcome {
  name: string;
  expected: number;
  status: number;
  problemJson: boolean;
}

/** Sends one case with exactly its bytes and headers. */
export function sendHostile(
  baseUrl: string,
  c: HostileCase,
  ctx: { meetingId: string; token: string; otherToken: string },
): Promise<HostileOutcome> {
  const url = new URL(baseUrl);
  const route = (c.route ?? 'meetings/M/events').replace(/(^|\/)M(\/|$)/, `$1${ctx.meetingId}$2`);
  const body =
    c.body === undefined
      ? undefined
      : typeof c.body === 'string' || Buffer.isBuffer(c.body)
        ? c.body
        : JSON.stringify(c.body);
  const headers: http.OutgoingHttpHeaders = {};
  if (c.contentType !== null) headers['content-type'] = c.contentType ?? 'application/json';
  const auth = c.auth ?? 'participant';
  if (auth === 'participant') headers.authorization = `Bearer ${ctx.token}`;
  else if (auth === 'other-meeting') headers.authorization = `Bearer ${ctx.otherToken}`;
  else if (auth !== 'none') headers.authorization = auth.header;
  if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: url.hostname,
        port: Number(url.port),
        method: c.method ?? 'POST',
        path: `${url.pathname.replace(/\/+$/, '')}/${route.split('/').map(encodeURIComponent).join('/')}`,
        headers,
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({
            name: c.name,
            expected: c.status,
            status: res.statusCode ?? 0,
            problemJson: String(res.headers['content-type'] ?? '').startsWith('application/problem+json'),
          }),
        );
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ name: c.name, expected: c.status, status: 0, problemJson: false }));
    req.end(body);
  });
}
