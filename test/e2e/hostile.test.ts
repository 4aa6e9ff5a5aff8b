/**
 * Hostile input, table-driven: well over 100 distinct bad requests against one meeting — malformed
 * JSON, invalid UTF-8, wrong types, oversize bodies, bad ids, injection-looking strings, prototype
 * keys, duplicate ids, huge and deep arrays, bad and missing auth, role violations. Each must get
 * the right 4xx as problem+json, and the meeting's documents in both containers must be
 * byte-for-byte what they were before.
 */
import { createHmac } from 'node:crypto';
import * as net from 'node:net';
import { signToken, stackDocuments, type StackDocuments } from '../support/documents';
import {
  api,
  createMeeting,
  join,
  sleep,
  startTestStack,
  type CreatedMeeting,
  type TestStack,
} from '../support/stack';

type Body = string | Buffer | Record<string, unknown> | unknown[];
interface Case {
  name: string;
  method?: string;
  /** Relative to /api; `M` stands for the meeting id. */
  route?: string;
  /** A role's token, a literal Authorization header value, or none. */
  auth?: 'host' | 'ann' | 'none' | { header: string };
  contentType?: string | null;
  body?: Body;
  status: number;
  /** Problem type slug, when the case has a specific one. */
  slug?: string;
}

const ev = (type: string, data?: unknown, extra: Record<string, unknown> = {}) => ({
  type,
  ...(data === undefined ? {} : { data }),
  ...extra,
});
const chat = (text: unknown) => ev('chat.message', { text });
const caption = (over: Record<string, unknown>) =>
  ev('caption.segment', { text: 'hello', startMs: 0, endMs: 10, final: true, ...over });
const pollOpen = (over: Record<string, unknown>) =>
  ev('poll.open', { pollId: 'new-poll', question: 'Q?', options: ['a', 'b'], ...over });
const withId = (id: unknown) => ({ id, ...chat('hi') });
const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

function cases(ctx: {
  meeting: CreatedMeeting;
  other: CreatedMeeting;
  ann: string;
  tokens: Record<string, string>;
}): Case[] {
  const M = ctx.meeting.meetingId;
  const events = 'meetings/M/events';
  const bearer = (token: string) => ({ header: `Bearer ${token}` });
  const list: Case[] = [
    // ---- malformed bodies ----
    {
      name: 'truncated JSON',
      body: '{"type":"chat.message","data":{"text":"hi"}',
      status: 400,
      slug: 'malformed-body',
    },
    { name: 'just an open brace', body: '{', status: 400 },
    { name: 'array instead of an event', body: [], status: 400 },
    { name: 'null body', body: 'null', status: 400 },
    { name: 'JSON string body', body: '"chat.message"', status: 400 },
    { name: 'JSON number body', body: '42', status: 400 },
    { name: 'JSON boolean body', body: 'true', status: 400 },
    { name: 'empty body', body: '', status: 400 },
    { name: 'whitespace body', body: '   \n ', status: 400 },
    { name: 'trailing garbage', body: '{"type":"hand.raise"} x', status: 400 },
    { name: 'JSON with comments', body: '{"type":"hand.raise" /* hi */}', status: 400 },
    { name: 'single-quoted JSON', body: "{'type':'hand.raise'}", status: 400 },
    {
      name: 'NaN literal',
      body: '{"type":"poll.vote","data":{"pollId":"open-poll","option":NaN}}',
      status: 400,
    },
    { name: 'invalid UTF-8 bytes', body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), status: 400 },
    {
      name: 'overlong UTF-8 encoding',
      body: Buffer.concat([
        Buffer.from('{"type":"chat.message","data":{"text":"'),
        Buffer.from([0xc0, 0xaf]),
        Buffer.from('"}}'),
      ]),
      status: 400,
    },
    {
      name: 'UTF-8 encoded surrogate',
      body: Buffer.concat([
        Buffer.from('{"type":"chat.message","data":{"text":"'),
        Buffer.from([0xed, 0xa0, 0x80]),
        Buffer.from('"}}'),
      ]),
      status: 400,
    },
    {
      name: 'escaped lone surrogate',
      body: '{"type":"chat.message","data":{"text":"a\\ud800b"}}',
      status: 400,
    },
    {
      name: 'NUL character in text',
      body: '{"type":"chat.message","data":{"text":"a\\u0000b"}}',
      status: 400,
    },
    { name: 'lone surrogate in a key', body: '{"type":"hand.raise","\\udc00":1}', status: 400 },
    // ---- content type ----
    { name: 'text/plain', contentType: 'text/plain', body: chat('hi'), status: 415, slug: 'media-type' },
    { name: 'no content type', contentType: null, body: chat('hi'), status: 415 },
    {
      name: 'form encoded',
      contentType: 'application/x-www-form-urlencoded',
      body: 'type=chat.message',
      status: 415,
    },
    {
      name: 'JSON in latin1',
      contentType: 'application/json; charset=latin1',
      body: chat('hi'),
      status: 415,
    },
    { name: 'multipart', contentType: 'multipart/form-data; boundary=x', body: chat('hi'), status: 415 },
    { name: 'XML', contentType: 'application/xml', body: '<event type="chat.message"/>', status: 415 },
    // ---- size ----
    { name: 'body over 1 MiB', body: chat('x'.repeat(1_100_000)), status: 413, slug: 'too-large' },
    // ---- types ----
    { name: 'type missing', body: { data: { text: 'hi' } }, status: 400 },
    { name: 'unknown type', body: ev('chat.delete', { messageId: 'x' }), status: 400 },
    { name: 'type is a number', body: ev(7 as unknown as string, {}), status: 400 },
    { name: 'type in upper case', body: ev('CHAT.MESSAGE', { text: 'hi' }), status: 400 },
    { name: 'client sends meeting.ended', body: ev('meeting.ended', {}), status: 400 },
    {
      name: 'client sends participant.joined',
      body: ev('participant.joined', { participantId: 'x', displayName: 'x', role: 'host' }),
      status: 400,
    },
    {
      name: 'client sends participant.left for someone',
      body: ev('participant.left', { participantId: 'x', reason: 'removed' }),
      status: 400,
    },
    { name: 'chat without data', body: ev('chat.message'), status: 400 },
    { name: 'data is an array', body: ev('chat.message', ['hi']), status: 400 },
    { name: 'data is null', body: ev('chat.message', null), status: 400 },
    { name: 'data is a string', body: ev('chat.message', 'hi'), status: 400 },
    { name: 'chat text is a number', body: chat(5), status: 400 },
    { name: 'chat text empty', body: chat(''), status: 400 },
    { name: 'chat text blank', body: chat('   \n\t'), status: 400 },
    { name: 'chat text over 4000 characters', body: chat('a'.repeat(4001)), status: 400 },
    { name: 'chat text is an array', body: chat(['a']), status: 400 },
    {
      name: 'chat with an unknown field',
      body: ev('chat.message', { text: 'hi', html: '<b>hi</b>' }),
      status: 400,
    },
    { name: 'event with an unknown top-level field', body: { ...chat('hi'), seq: 1 }, status: 400 },
    { name: 'event forging receivedAt', body: { ...chat('hi'), receivedAt: 0 }, status: 400 },
    {
      name: 'event forging participantId',
      body: { ...chat('hi'), participantId: ctx.meeting.hostId },
      status: 400,
    },
    { name: 'reaction outside the allow-list', body: ev('reaction', { emoji: '🦄' }), status: 400 },
    { name: 'reaction as a shortcode', body: ev('reaction', { emoji: ':thumbsup:' }), status: 400 },
    { name: 'reaction of two emoji', body: ev('reaction', { emoji: '👍👍' }), status: 400 },
    { name: 'reaction without emoji', body: ev('reaction', {}), status: 400 },
    { name: 'hand.raise with data', body: ev('hand.raise', { x: 1 }), status: 400 },
    {
      name: 'hand.lower participant id with a slash',
      body: ev('hand.lower', { participantId: 'a/b' }),
      status: 400,
    },
    {
      name: 'hand.lower participant id too long',
      body: ev('hand.lower', { participantId: 'a'.repeat(65) }),
      status: 400,
    },
    {
      name: 'hand.lower participant id is a number',
      body: ev('hand.lower', { participantId: 12 }),
      status: 400,
    },
    { name: 'caption over 10,000 characters', body: caption({ text: 'a'.repeat(10_001) }), status: 400 },
    { name: 'caption negative start', body: caption({ startMs: -1 }), status: 400 },
    { name: 'caption fractional start', body: caption({ startMs: 1.5 }), status: 400 },
    { name: 'caption ends before it starts', body: caption({ startMs: 100, endMs: 50 }), status: 400 },
    { name: 'caption start beyond safe integers', body: caption({ startMs: 1e300 }), status: 400 },
    {
      name: 'caption start overflowing to Infinity',
      body: '{"type":"caption.segment","data":{"text":"a","startMs":1e999,"endMs":1,"final":true}}',
      status: 400,
    },
    { name: 'caption final is a string', body: caption({ final: 'yes' }), status: 400 },
    { name: 'caption lang not a tag', body: caption({ lang: 'english language' }), status: 400 },
    {
      name: 'caption without final',
      body: ev('caption.segment', { text: 'a', startMs: 0, endMs: 1 }),
      status: 400,
    },
    { name: 'caption start as a string', body: caption({ startMs: '0' }), status: 400 },
    { name: 'speaking.start with data', body: ev('speaking.start', { who: 'x' }), status: 400 },
    { name: 'poll with one option', auth: 'host', body: pollOpen({ options: ['only'] }), status: 400 },
    {
      name: 'poll with eleven options',
      auth: 'host',
      body: pollOpen({ options: 'abcdefghijk'.split('') }),
      status: 400,
    },
    {
      name: 'poll with repeated options',
      auth: 'host',
      body: pollOpen({ options: ['a', 'a'] }),
      status: 400,
    },
    { name: 'poll with an empty question', auth: 'host', body: pollOpen({ question: '' }), status: 400 },
    {
      name: 'poll question over 300 characters',
      auth: 'host',
      body: pollOpen({ question: 'q'.repeat(301) }),
      status: 400,
    },
    {
      name: 'poll option over 100 characters',
      auth: 'host',
      body: pollOpen({ options: ['a', 'b'.repeat(101)] }),
      status: 400,
    },
    { name: 'poll id with #', auth: 'host', body: pollOpen({ pollId: 'a#b' }), status: 400 },
    { name: 'poll id too long', auth: 'host', body: pollOpen({ pollId: 'p'.repeat(65) }), status: 400 },
    { name: 'poll options not an array', auth: 'host', body: pollOpen({ options: 'a,b' }), status: 400 },
    { name: 'vote option negative', body: ev('poll.vote', { pollId: 'open-poll', option: -1 }), status: 400 },
    {
      name: 'vote option fractional',
      body: ev('poll.vote', { pollId: 'open-poll', option: 1.5 }),
      status: 400,
    },
    {
      name: 'vote option a string',
      body: ev('poll.vote', { pollId: 'open-poll', option: '1' }),
      status: 400,
    },
    {
      name: 'vote option beyond any poll',
      body: ev('poll.vote', { pollId: 'open-poll', option: 10 }),
      status: 400,
    },
    {
      name: "vote option beyond this poll's options",
      body: ev('poll.vote', { pollId: 'open-poll', option: 5 }),
      status: 400,
    },
    // ---- state and role rules ----
    {
      name: 'vote on an unknown poll',
      body: ev('poll.vote', { pollId: 'no-such-poll', option: 0 }),
      status: 404,
      slug: 'unknown-poll',
    },
    {
      name: 'vote on a closed poll',
      body: ev('poll.vote', { pollId: 'closed-poll', option: 0 }),
      status: 409,
      slug: 'poll-closed',
    },
    {
      name: 'open a poll id already used',
      auth: 'host',
      body: pollOpen({ pollId: 'open-poll' }),
      status: 409,
      slug: 'duplicate-poll',
    },
    {
      name: 'close an unknown poll',
      auth: 'host',
      body: ev('poll.close', { pollId: 'no-such-poll' }),
      status: 404,
    },
    { name: 'attendee opens a poll', body: pollOpen({}), status: 403, slug: 'role' },
    {
      name: 'attendee closes a poll',
      body: ev('poll.close', { pollId: 'open-poll' }),
      status: 403,
      slug: 'role',
    },
    {
      name: "attendee lowers the host's hand",
      body: ev('hand.lower', { participantId: ctx.meeting.hostId }),
      status: 403,
    },
    // ---- ids ----
    { name: 'id with a slash', body: withId('a/b'), status: 400 },
    { name: 'id with a backslash', body: withId('a\\b'), status: 400 },
    { name: 'id with a question mark', body: withId('a?b'), status: 400 },
    { name: 'id with a hash', body: withId('a#b'), status: 400 },
    { name: 'id of 256 characters', body: withId('i'.repeat(256)), status: 400 },
    { name: 'empty id', body: withId(''), status: 400 },
    { name: 'id with leading space', body: withId(' a'), status: 400 },
    { name: 'id with a newline', body: withId('a\nb'), status: 400 },
    { name: 'id is a number', body: withId(12), status: 400 },
    { name: 'id taking a server event id', body: withId('sys-ended'), status: 400 },
    { name: 'id with a reserved prefix in another case', body: withId('SRV-1'), status: 400 },
    {
      name: 'id reused with other content',
      body: { id: 'existing', ...chat('changed') },
      status: 409,
      slug: 'id-conflict',
    },
    // ---- injection-looking strings ----
    { name: 'SQL in the type', body: ev("chat.message'; DROP TABLE events;--", { text: 'x' }), status: 400 },
    { name: 'SQL in a poll id', body: ev('poll.vote', { pollId: "' OR 1=1 --", option: 0 }), status: 400 },
    { name: 'script tag as id', body: withId('<script>alert(1)</script>'), status: 400 },
    { name: 'HTML as emoji', body: ev('reaction', { emoji: '<img src=x onerror=alert(1)>' }), status: 400 },
    {
      name: 'Cosmos SQL in the meeting id',
      route: `meetings/${encodeURIComponent("x' OR '1'='1")}/events`,
      body: chat('hi'),
      status: 400,
    },
    {
      name: 'path traversal as participant id',
      method: 'DELETE',
      auth: 'host',
      route: `meetings/M/participants/${encodeURIComponent('../../meeting')}`,
      status: 400,
    },
    {
      name: 'NoSQL operator as poll id',
      body: ev('poll.vote', { pollId: { $ne: null }, option: 0 }),
      status: 400,
    },
    // ---- prototype keys ----
    { name: '__proto__ at the top', body: '{"__proto__":{"admin":true},"type":"hand.raise"}', status: 400 },
    {
      name: 'constructor.prototype at the top',
      body: '{"constructor":{"prototype":{"x":1}},"type":"hand.raise"}',
      status: 400,
    },
    {
      name: '__proto__ in data',
      body: '{"type":"chat.message","data":{"text":"hi","__proto__":{"x":1}}}',
      status: 400,
    },
    {
      name: '__proto__ in a batched event',
      body: '{"events":[{"type":"hand.raise","__proto__":{"role":"host"}}]}',
      status: 400,
    },
    { name: 'prototype in data', body: '{"type":"hand.raise","data":{"prototype":{}}}', status: 400 },
    {
      name: '__proto__ creating a meeting',
      method: 'POST',
      route: 'meetings',
      body: '{"title":"x","__proto__":{"status":"ended"}}',
      status: 400,
    },
    {
      name: '__proto__ joining',
      method: 'POST',
      route: 'meetings/M/join',
      auth: 'none',
      body: `{"displayName":"x","joinCode":"${ctx.meeting.joinCode}","__proto__":{"role":"host"}}`,
      status: 400,
    },
    // ---- batches ----
    { name: 'empty batch', body: { events: [] }, status: 400 },
    {
      name: 'batch of 101',
      body: { events: Array.from({ length: 101 }, () => ev('hand.raise')) },
      status: 400,
    },
    {
      name: 'batch of 10,000',
      body: { events: Array.from({ length: 10_000 }, () => ev('hand.raise')) },
      status: 400,
    },
    { name: 'events is an object', body: { events: { 0: ev('hand.raise') } }, status: 400 },
    { name: 'batch with duplicate ids', body: { events: [withId('dup'), withId('dup')] }, status: 400 },
    { name: 'batch with an extra key', body: { events: [ev('hand.raise')], atomic: false }, status: 400 },
    {
      name: 'batch with one invalid event',
      body: { events: [chat('fine'), chat('fine too'), chat('')] },
      status: 400,
    },
    { name: 'batch with one forbidden event', body: { events: [chat('fine'), pollOpen({})] }, status: 403 },
    {
      name: 'batch with one vote on an unknown poll',
      body: { events: [chat('fine'), ev('poll.vote', { pollId: 'nope', option: 0 })] },
      status: 404,
    },
    { name: 'batch nested in a batch', body: { events: [{ events: [ev('hand.raise')] }] }, status: 400 },
    {
      name: 'arrays nested 10,000 deep',
      body: `{"type":"chat.message","data":{"text":${nested(10_000)}}}`,
      status: 400,
    },
    {
      name: 'objects nested 40 deep',
      body: `{"type":"hand.raise","data":${'{"a":'.repeat(40)}1${'}'.repeat(40)}}`,
      status: 400,
    },
    // ---- auth ----
    { name: 'no Authorization', auth: 'none', body: chat('hi'), status: 401 },
    { name: 'Basic auth', auth: { header: 'Basic YWRtaW46YWRtaW4=' }, body: chat('hi'), status: 401 },
    { name: 'Bearer without a token', auth: { header: 'Bearer ' }, body: chat('hi'), status: 401 },
    {
      name: 'garbage token',
      auth: bearer('not.a.token'),
      body: chat('hi'),
      status: 401,
      slug: 'token-invalid',
    },
    { name: 'alg none token', auth: bearer(ctx.tokens.none!), body: chat('hi'), status: 401 },
    { name: 'tampered signature', auth: bearer(ctx.tokens.tampered!), body: chat('hi'), status: 401 },
    { name: 'payload edited to host', auth: bearer(ctx.tokens.escalated!), body: pollOpen({}), status: 401 },
    {
      name: 'expired token',
      auth: bearer(ctx.tokens.expired!),
      body: chat('hi'),
      status: 401,
      slug: 'token-expired',
    },
    {
      name: 'token of another meeting',
      auth: bearer(ctx.other.hostToken),
      body: chat('hi'),
      status: 403,
      slug: 'wrong-meeting',
    },
    {
      name: 'token signed with another secret',
      auth: bearer(ctx.tokens.otherSecret!),
      body: chat('hi'),
      status: 401,
    },
    {
      name: 'validly signed token of nobody',
      auth: bearer(ctx.tokens.ghost!),
      body: chat('hi'),
      status: 401,
    },
    { name: 'huge token', auth: bearer('a'.repeat(5000)), body: chat('hi'), status: 401 },
    // ---- other routes ----
    {
      name: 'join with a wrong code',
      method: 'POST',
      route: 'meetings/M/join',
      auth: 'none',
      body: { displayName: 'x', joinCode: 'WRONG12345' },
      status: 403,
      slug: 'wrong-join-code',
    },
    {
      name: 'join with an empty name',
      method: 'POST',
      route: 'meetings/M/join',
      auth: 'none',
      body: { displayName: '', joinCode: ctx.meeting.joinCode },
      status: 400,
    },
    {
      name: 'join with control characters in the name',
      method: 'POST',
      route: 'meetings/M/join',
      auth: 'none',
      body: { displayName: 'a\u0007b', joinCode: ctx.meeting.joinCode },
      status: 400,
    },
    {
      name: 'join with an 81-character name',
      method: 'POST',
      route: 'meetings/M/join',
      auth: 'none',
      body: { displayName: 'n'.repeat(81), joinCode: ctx.meeting.joinCode },
      status: 400,
    },
    {
      name: 'join without a code',
      method: 'POST',
      route: 'meetings/M/join',
      auth: 'none',
      body: { displayName: 'x' },
      status: 400,
    },
    {
      name: 'join asking to be host',
      method: 'POST',
      route: 'meetings/M/join',
      auth: 'none',
      body: { displayName: 'x', joinCode: ctx.meeting.joinCode, role: 'host' },
      status: 400,
    },
    {
      name: 'join as text/plain',
      method: 'POST',
      route: 'meetings/M/join',
      auth: 'none',
      contentType: 'text/plain',
      body: { displayName: 'x', joinCode: ctx.meeting.joinCode },
      status: 415,
    },
    {
      name: 'join body over 4 KiB',
      method: 'POST',
      route: 'meetings/M/join',
      auth: 'none',
      body: { displayName: 'x', joinCode: 'j'.repeat(5000) },
      status: 413,
    },
    {
      name: 'join an unknown meeting',
      method: 'POST',
      route: 'meetings/nosuchmeeting123/join',
      auth: 'none',
      body: { displayName: 'x', joinCode: ctx.meeting.joinCode },
      status: 404,
    },
    {
      name: 'attendee changes a role',
      method: 'PUT',
      route: `meetings/M/participants/${ctx.ann}/role`,
      body: { role: 'presenter' },
      status: 403,
    },
    {
      name: 'role set to host',
      method: 'PUT',
      auth: 'host',
      route: `meetings/M/participants/${ctx.ann}/role`,
      body: { role: 'host' },
      status: 400,
    },
    {
      name: 'role body with extra field',
      method: 'PUT',
      auth: 'host',
      route: `meetings/M/participants/${ctx.ann}/role`,
      body: { role: 'presenter', displayName: 'x' },
      status: 400,
    },
    {
      name: 'role of an unknown participant',
      method: 'PUT',
      auth: 'host',
      route: 'meetings/M/participants/nobody12345/role',
      body: { role: 'presenter' },
      status: 404,
    },
    {
      name: 'attendee removes the host',
      method: 'DELETE',
      route: `meetings/M/participants/${ctx.meeting.hostId}`,
      status: 403,
    },
    {
      name: 'host removes themselves',
      method: 'DELETE',
      auth: 'host',
      route: `meetings/M/participants/${ctx.meeting.hostId}`,
      status: 409,
    },
    { name: 'attendee ends the meeting', method: 'POST', route: 'meetings/M/end', status: 403 },
    { name: 'attendee starts the meeting', method: 'POST', route: 'meetings/M/start', status: 403 },
    {
      name: 'end with a body',
      method: 'POST',
      auth: 'host',
      route: 'meetings/M/end',
      body: { reason: 'x' },
      status: 400,
    },
    {
      name: 'leave with a body',
      method: 'POST',
      route: 'meetings/M/leave',
      body: { participantId: ctx.meeting.hostId },
      status: 400,
    },
    {
      name: 'negotiate with a token of another meeting',
      method: 'POST',
      route: 'meetings/M/negotiate',
      auth: bearer(ctx.other.hostToken),
      status: 403,
    },
    {
      name: 'participants with a negative limit',
      method: 'GET',
      route: 'meetings/M/participants?limit=-1',
      status: 400,
    },
    {
      name: 'participants with a forged continuation',
      method: 'GET',
      route: `meetings/M/participants?continuation=${Buffer.from('{"after":"meeting"}').toString('base64url')}`,
      status: 400,
    },
    {
      name: 'create without a title',
      method: 'POST',
      route: 'meetings',
      auth: 'none',
      body: {},
      status: 400,
    },
    {
      name: 'create with a 201-character title',
      method: 'POST',
      route: 'meetings',
      auth: 'none',
      body: { title: 't'.repeat(201) },
      status: 400,
    },
    {
      name: 'create starting in two years',
      method: 'POST',
      route: 'meetings',
      auth: 'none',
      body: { title: 't', startsAt: new Date(Date.now() + 2 * 365 * 86_400_000).toISOString() },
      status: 400,
    },
    {
      name: 'create ending in the past',
      method: 'POST',
      route: 'meetings',
      auth: 'none',
      body: { title: 't', endsAt: '2000-01-01T00:00:00Z' },
      status: 400,
    },
    {
      name: 'create choosing the host id',
      method: 'POST',
      route: 'meetings',
      auth: 'none',
      body: { title: 't', hostParticipantId: 'me' },
      status: 400,
    },
    {
      name: 'create with a date without offset',
      method: 'POST',
      route: 'meetings',
      auth: 'none',
      body: { title: 't', startsAt: '2030-01-01T10:00:00' },
      status: 400,
    },
    {
      name: 'unknown sub-route',
      method: 'POST',
      route: 'meetings/M/events/extra',
      body: chat('hi'),
      status: 404,
    },
    {
      name: 'unsupported method',
      method: 'PATCH',
      route: 'meetings/M',
      body: { title: 'renamed' },
      status: 405,
    },
    { name: 'meeting id too long', method: 'GET', route: `meetings/${'m'.repeat(65)}`, status: 400 },
    { name: 'meeting id with a dot', method: 'GET', route: 'meetings/a.b', status: 400 },
    { name: 'bad percent-encoding', method: 'GET', route: 'meetings/%E0%A4%A', status: 400 },
  ];
  return list.map((c) => ({
    method: 'POST',
    auth: 'ann',
    ...c,
    route: (c.route ?? events).replace('/M/', `/${M}/`).replace(/\/M$/, `/${M}`),
  }));
}

describe('hostile input', () => {
  let stack: TestStack;
  let docs: StackDocuments;

  beforeAll(async () => {
    stack = await startTestStack({
      // Nothing may change the meeting's documents on its own while the requests run (daily, not
      // yearly: the runner's timers cannot wait longer than setTimeout's 24.8 days).
      ANALYTICS_TICK_SCHEDULE: '0 0 3 * * *',
      PRESENCE_SWEEP_SCHEDULE: '0 0 3 * * *',
      RATE_LIMIT_EVENTS_BURST: '100000',
      RATE_LIMIT_REQUESTS_BURST: '100000',
      RATE_LIMIT_JOINS_BURST: '100000',
      RATE_LIMIT_JOIN_FAILURES_BURST: '100000',
    });
    docs = stackDocuments(stack);
  });

  afterAll(async () => {
    docs?.dispose();
    await stack?.cleanup();
  });

  test('a malformed Host header gets a 400 problem, not a 500', async () => {
    const { port } = new URL(stack.apiUrl);
    const statusFor = (host: string) =>
      new Promise<string>((resolve, reject) => {
        // Raw bytes: fetch and node:http would refuse to send these Host values at all.
        const socket = net.connect(Number(port), '127.0.0.1', () =>
          socket.write(`GET /api/health HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
        );
        let head = '';
        socket.on('data', (chunk: Buffer) => (head += chunk.toString('latin1')));
        socket.on('end', () => resolve(head.split('\r\n')[0] ?? ''));
        socket.on('error', reject);
      });
    for (const host of ['', 'a b', '[::1', 'localhost:99999', '%zz', 'user@x', 'x:port']) {
      expect(`${JSON.stringify(host)} → ${await statusFor(host)}`).toBe(
        `${JSON.stringify(host)} → HTTP/1.1 400 Bad Request`,
      );
    }
    expect(await statusFor(`127.0.0.1:${port}`)).toBe('HTTP/1.1 200 OK');
  });

  test('over 100 distinct bad requests each get the right 4xx problem and change nothing stored', async () => {
    const meeting = await createMeeting(stack, 'Target');
    const other = await createMeeting(stack, 'Other');
    const ann = await join(stack, meeting, 'Ann');
    const setup = [
      [
        meeting.hostToken,
        {
          events: [
            { type: 'poll.open', data: { pollId: 'open-poll', question: 'Open?', options: ['a', 'b'] } },
            { type: 'poll.open', data: { pollId: 'closed-poll', question: 'Closed?', options: ['a', 'b'] } },
            { type: 'poll.close', data: { pollId: 'closed-poll' } },
          ],
        },
      ],
      [ann.token, { id: 'existing', type: 'chat.message', data: { text: 'original' } }],
    ] as const;
    for (const [token, body] of setup) {
      expect(
        (await api(stack, 'POST', `/meetings/${meeting.meetingId}/events`, { token, body })).status,
      ).toBe(202);
    }

    const secret = stack.env.MEETSTREAM_TOKEN_SECRET!;
    const [h, p, s] = ann.token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const sign = (data: string, key: string) => createHmac('sha256', key).update(data).digest('base64url');
    const base = {
      meetingId: meeting.meetingId,
      participantId: ann.participantId,
      role: 'attendee' as const,
    };
    const tokens = {
      none: `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`,
      tampered: `${h}.${p}.${s.slice(0, -4)}AAAA`,
      escalated: `${h}.${b64({ ...claims, role: 'host' })}.${s}`,
      expired: signToken(stack, { ...base, expiresAt: Math.floor(Date.now() / 1000) - 60 }),
      otherSecret: `${h}.${p}.${sign(`${h}.${p}`, 'another-secret-that-is-long-enough-000')}`,
      ghost: signToken(stack, {
        ...base,
        participantId: 'ghost0000000000',
        expiresAt: Math.floor(Date.now() / 1000) + 600,
      }),
    };
    expect(secret.length).toBeGreaterThan(0);
    const table = cases({ meeting, other, ann: ann.participantId, tokens });
    expect(table.length).toBeGreaterThanOrEqual(100);
    expect(new Set(table.map((c) => c.name)).size).toBe(table.length);

    // Let the processor apply the setup, then take the "before" picture.
    const settle = async () => {
      let previous = '';
      for (let i = 0; i < 40; i++) {
        await sleep(250);
        const now = [await docs.snapshot(meeting.meetingId), await docs.snapshot(other.meetingId)].join('\n');
        if (now === previous) return now;
        previous = now;
      }
      throw new Error("the meetings' documents kept changing");
    };
    const before = await settle();

    const outcomes: string[] = [];
    for (const c of table) {
      const headers: Record<string, string> = {};
      if (c.auth === 'host') headers.authorization = `Bearer ${meeting.hostToken}`;
      else if (c.auth === 'ann') headers.authorization = `Bearer ${ann.token}`;
      else if (typeof c.auth === 'object') headers.authorization = c.auth.header;
      const body =
        c.body === undefined
          ? undefined
          : typeof c.body === 'string'
            ? c.body
            : Buffer.isBuffer(c.body)
              ? new Uint8Array(c.body)
              : JSON.stringify(c.body);
      if (body !== undefined && c.contentType !== null)
        headers['content-type'] = c.contentType ?? 'application/json';
      const res = await fetch(`${stack.apiUrl}/${c.route}`, { method: c.method, headers, body });
      const text = await res.text();
      let problem: Record<string, unknown> = {};
      try {
        problem = JSON.parse(text) as Record<string, unknown>;
      } catch {
        // reported below
      }
      const ok =
        res.status === c.status &&
        res.headers.get('content-type') === 'application/problem+json' &&
        problem.status === c.status &&
        typeof problem.title === 'string' &&
        typeof problem.detail === 'string' &&
        typeof problem.type === 'string' &&
        (c.slug === undefined || problem.type === `urn:meetstream:problem:${c.slug}`) &&
        !/\bat .+:\d+:\d+/.test(text);
      if (!ok)
        outcomes.push(
          `${c.name}: expected ${c.status}${c.slug ? ` ${c.slug}` : ''}, got ${res.status} ${text.slice(0, 200)}`,
        );
    }
    expect(outcomes).toEqual([]);

    // Anything stored by mistake would also have been processed by now.
    await sleep(300);
    expect(await settle()).toBe(before);
  });
});
