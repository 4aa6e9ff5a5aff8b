/**
 * The meeting API end to end over HTTP against the embedded local stack: every route, every event
 * type (checked as delivered envelopes and in the live snapshot), role rules, token scope,
 * idempotency, atomic batches, rate limits, lifecycle, leave/rejoin, removal and paging.
 */
import { WebPubSubClient } from '@azure/web-pubsub-client';
import type { z } from 'zod';
import {
  acceptedSchema,
  createdMeetingSchema,
  joinCodeSchema,
  joinedSchema,
  meetingResponseSchema,
  meetingViewSchema,
  negotiatedSchema,
  participantPageSchema,
  participantResponseSchema,
  problemSchema,
  summaryLinkSchema,
} from '../../lib/openapi';
import { SseParser } from '../../client';
import type { EventEnvelope } from '../../lib/protocol';
import { signToken, stackDocuments, type StackDocuments } from '../support/documents';
import {
  api,
  createMeeting,
  join,
  listen,
  startTestStack,
  testClientOptions,
  waitUntil,
  type ApiResponse,
  type CreatedMeeting,
  type Listener,
  type TestStack,
} from '../support/stack';

type Problem = {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: Array<{ path: string }>;
};
type Snapshot = {
  seq: number;
  meeting: { status: string };
  you: { id: string; role: string };
  state: {
    roster: Array<{ participantId: string; role: string; present: boolean }>;
    hands: Array<{ participantId: string }>;
    polls: Array<{ pollId: string; status: string; tallies: number[] }>;
    speaker: { participantId: string | null };
    counts: Record<string, number>;
  } | null;
};

const events = (l: Listener, type?: string) =>
  l.envelopes.filter(
    (e): e is EventEnvelope => e.kind === 'event' && (type === undefined || e.type === type),
  );

/** The body matches the response schema published in docs/openapi.json (strict: no extra fields). */
function expectDocumented(schema: z.ZodType, body: unknown): void {
  const result = schema.safeParse(body);
  expect(result.error?.issues ?? []).toEqual([]);
}

function expectProblem(res: ApiResponse, status: number, slug?: string): void {
  expectDocumented(problemSchema, res.body);
  expect({ status: res.status, contentType: res.headers.get('content-type') }).toEqual({
    status,
    contentType: 'application/problem+json',
  });
  const body = res.body as unknown as Problem;
  expect(body.status).toBe(status);
  if (slug) expect(body.type).toBe(`urn:meetstream:problem:${slug}`);
}

describe('meeting API over HTTP', () => {
  let stack: TestStack;
  let docs: StackDocuments;
  const listeners: Listener[] = [];

  beforeAll(async () => {
    stack = await startTestStack();
    docs = stackDocuments(stack);
  });

  afterAll(async () => {
    await Promise.all(listeners.map((l) => l.stop()));
    docs?.dispose();
    await stack?.cleanup();
  });

  const post = (m: CreatedMeeting, token: string, body: unknown) =>
    api(stack, 'POST', `/meetings/${m.meetingId}/events`, { token, body });
  const view = async (m: CreatedMeeting, token: string) => {
    const res = await api<Snapshot>(stack, 'GET', `/meetings/${m.meetingId}`, { token });
    expect(res.status).toBe(200);
    expectDocumented(meetingViewSchema, res.body);
    return res.body;
  };
  /** Waits until the processor has applied everything stored so far and returns the snapshot. */
  const settled = async (m: CreatedMeeting, token: string, check: (s: Snapshot) => boolean) => {
    let last: Snapshot | undefined;
    await waitUntil(
      async () => {
        last = await view(m, token);
        return check(last);
      },
      10_000,
      50,
    );
    return last!;
  };

  test('creating a meeting answers 201 with the meeting, a join code, the host and a host token', async () => {
    const res = await api<{
      meeting: { id: string; status: string };
      joinCode: string;
      hostToken: string;
      host: { role: string };
    }>(stack, 'POST', '/meetings', {
      body: { title: 'Town hall', endsAt: new Date(Date.now() + 3_600_000).toISOString() },
    });
    expect(res.status).toBe(201);
    expectDocumented(createdMeetingSchema, res.body);
    expect(res.body.meeting.status).toBe('live');
    expect(res.body.host.role).toBe('host');
    expect(res.body.joinCode).toMatch(/^[A-Z2-9]{10}$/);
    expect(res.headers.get('location')).toBe(`/api/meetings/${res.body.meeting.id}`);
  });

  test('a meeting with bad fields is refused with one error per field', async () => {
    const res = await api(stack, 'POST', '/meetings', {
      body: { title: '', startsAt: 'tomorrow', extra: 1 },
    });
    expectProblem(res, 400, 'validation');
    const paths = (res.body as unknown as Problem).errors!.map((e) => e.path).sort();
    expect(paths).toEqual(['(body)', 'startsAt', 'title']);
    const ends = await api(stack, 'POST', '/meetings', {
      body: { title: 'x', startsAt: '2030-01-01T10:00:00Z', endsAt: '2030-01-01T09:00:00Z' },
    });
    expectProblem(ends, 400);
    expect((ends.body as unknown as Problem).errors).toEqual([
      { path: 'endsAt', message: 'must be after startsAt' },
    ]);
  });

  test('joining needs the right code for an existing meeting', async () => {
    const m = await createMeeting(stack, 'Join rules');
    expectProblem(
      await api(stack, 'POST', `/meetings/${m.meetingId}/join`, {
        body: { displayName: 'Eve', joinCode: 'WRONGCODE1' },
      }),
      403,
      'wrong-join-code',
    );
    expectProblem(
      await api(stack, 'POST', '/meetings/nosuchmeeting000/join', {
        body: { displayName: 'Eve', joinCode: m.joinCode },
      }),
      404,
    );
    const ok = await api<{ participant: { role: string; status: string }; token: string; expiresAt: string }>(
      stack,
      'POST',
      `/meetings/${m.meetingId}/join`,
      { body: { displayName: 'Ann', joinCode: m.joinCode.toLowerCase() } },
    );
    expect(ok.status).toBe(201);
    expectDocumented(joinedSchema, ok.body);
    expect(ok.body.participant).toMatchObject({ role: 'attendee', status: 'present' });
    expect(Date.parse(ok.body.expiresAt)).toBeGreaterThan(Date.now());
  });

  test('the host rotates a leaked join code: the old code stops working, the new one works, those who joined stay', async () => {
    const m = await createMeeting(stack, 'Leaked code');
    const ann = await join(stack, m, 'Ann');
    const rotate = (token: string) =>
      api<{ joinCode: string }>(stack, 'POST', `/meetings/${m.meetingId}/join-code`, { token });
    expectProblem(await rotate(ann.token), 403, 'role');
    const rotated = await rotate(m.hostToken);
    expect(rotated.status).toBe(200);
    expectDocumented(joinCodeSchema, rotated.body);
    expect(rotated.body.joinCode).toMatch(/^[A-Z2-9]{10}$/);
    expect(rotated.body.joinCode).not.toBe(m.joinCode);
    const joinWith = (joinCode: string) =>
      api(stack, 'POST', `/meetings/${m.meetingId}/join`, { body: { displayName: 'Eve', joinCode } });
    expectProblem(await joinWith(m.joinCode), 403, 'wrong-join-code');
    expect((await joinWith(rotated.body.joinCode)).status).toBe(201);
    expect((await post(m, ann.token, { type: 'chat.message', data: { text: 'still in' } })).status).toBe(202);
  });

  test('every event type posted over HTTP is delivered as an envelope and shows in the live snapshot', async () => {
    const m = await createMeeting(stack, 'All events');
    const ann = await join(stack, m, 'Ann');
    const watcher = await listen(stack, m.meetingId, m.hostToken);
    listeners.push(watcher);

    const sent: Array<[string, string, unknown]> = [
      [ann.token, 'chat.message', { text: 'hello' }],
      [ann.token, 'reaction', { emoji: '👍' }],
      [ann.token, 'hand.raise', {}],
      [m.hostToken, 'hand.raise', {}],
      [m.hostToken, 'hand.lower', {}],
      [
        ann.token,
        'caption.segment',
        { text: 'budget review today', startMs: 0, endMs: 1500, final: true, lang: 'en-GB' },
      ],
      [ann.token, 'speaking.start', {}],
      [m.hostToken, 'poll.open', { pollId: 'lunch', question: 'Lunch?', options: ['pizza', 'salad'] }],
      [ann.token, 'poll.vote', { pollId: 'lunch', option: 0 }],
      [ann.token, 'poll.vote', { pollId: 'lunch', option: 1 }],
      [m.hostToken, 'poll.vote', { pollId: 'lunch', option: 1 }],
      [ann.token, 'speaking.stop', {}],
      [m.hostToken, 'poll.close', { pollId: 'lunch' }],
      [m.hostToken, 'hand.lower', { participantId: ann.participantId }],
    ];
    for (const [i, [token, type, data]] of sent.entries()) {
      const res = await post(m, token, { id: `e-${i}`, type, data });
      expect({ i, status: res.status }).toEqual({ i, status: 202 });
    }
    await watcher.waitFor(() => sent.every((_, i) => events(watcher).some((e) => e.id === `e-${i}`)));
    for (const [i, [token, type, data]] of sent.entries()) {
      const envelope = events(watcher).find((e) => e.id === `e-${i}`)!;
      expect(envelope).toMatchObject({
        type,
        data,
        actor: token === ann.token ? ann.participantId : m.hostId,
      });
    }

    const s = await settled(m, ann.token, (v) => (v.state?.counts['poll.close'] ?? 0) === 1);
    expect(s.you).toMatchObject({ id: ann.participantId, role: 'attendee' });
    expect(s.seq).toBeGreaterThanOrEqual(sent.length);
    expect(s.state!.hands).toEqual([]);
    expect(s.state!.speaker.participantId).toBeNull();
    expect(s.state!.polls).toEqual([
      expect.objectContaining({ pollId: 'lunch', status: 'closed', tallies: [0, 2] }),
    ]);
    for (const [, type] of sent) expect(s.state!.counts[type]).toBeGreaterThan(0);
    expect(s.state!.counts['participant.joined']).toBe(2);
    expect(s.state!.counts['meeting.started']).toBe(1);
  });

  test('role rules: attendees cannot run polls, lower others, end, remove or change roles; promoted presenters can run polls', async () => {
    const m = await createMeeting(stack, 'Roles');
    const ann = await join(stack, m, 'Ann');
    const bob = await join(stack, m, 'Bob');
    expect((await post(m, bob.token, { type: 'hand.raise' })).status).toBe(202);
    const poll = { type: 'poll.open', data: { pollId: 'p', question: 'Q?', options: ['a', 'b'] } };

    expectProblem(await post(m, ann.token, poll), 403, 'role');
    expectProblem(await post(m, ann.token, { type: 'poll.close', data: { pollId: 'p' } }), 403, 'role');
    expectProblem(
      await post(m, ann.token, { type: 'hand.lower', data: { participantId: bob.participantId } }),
      403,
      'role',
    );
    expectProblem(
      await api(stack, 'POST', `/meetings/${m.meetingId}/end`, { token: ann.token }),
      403,
      'role',
    );
    expectProblem(
      await api(stack, 'POST', `/meetings/${m.meetingId}/start`, { token: ann.token }),
      403,
      'role',
    );
    expectProblem(
      await api(stack, 'DELETE', `/meetings/${m.meetingId}/participants/${bob.participantId}`, {
        token: ann.token,
      }),
      403,
      'role',
    );
    expectProblem(
      await api(stack, 'PUT', `/meetings/${m.meetingId}/participants/${ann.participantId}/role`, {
        token: ann.token,
        body: { role: 'presenter' },
      }),
      403,
      'role',
    );

    const promoted = await api<{ participant: { role: string } }>(
      stack,
      'PUT',
      `/meetings/${m.meetingId}/participants/${ann.participantId}/role`,
      { token: m.hostToken, body: { role: 'presenter' } },
    );
    expect(promoted.status).toBe(200);
    expectDocumented(participantResponseSchema, promoted.body);
    expect(promoted.body.participant.role).toBe('presenter');
    // The same token now carries the promoted role.
    expect((await post(m, ann.token, poll)).status).toBe(202);
    expect((await post(m, ann.token, { type: 'poll.close', data: { pollId: 'p' } })).status).toBe(202);
    // Presenters still may not lower others' hands; hosts may.
    expectProblem(
      await post(m, ann.token, { type: 'hand.lower', data: { participantId: bob.participantId } }),
      403,
    );
    expect(
      (await post(m, m.hostToken, { type: 'hand.lower', data: { participantId: bob.participantId } })).status,
    ).toBe(202);
    expectProblem(
      await api(stack, 'PUT', `/meetings/${m.meetingId}/participants/${m.hostId}/role`, {
        token: m.hostToken,
        body: { role: 'attendee' },
      }),
      409,
      'host-role',
    );
    expectProblem(
      await api(stack, 'PUT', `/meetings/${m.meetingId}/participants/${ann.participantId}/role`, {
        token: m.hostToken,
        body: { role: 'host' },
      }),
      400,
    );

    const demoted = await api(
      stack,
      'PUT',
      `/meetings/${m.meetingId}/participants/${ann.participantId}/role`,
      {
        token: m.hostToken,
        body: { role: 'attendee' },
      },
    );
    expect(demoted.status).toBe(200);
    expectProblem(await post(m, ann.token, { ...poll, data: { ...poll.data, pollId: 'p2' } }), 403);
    // host + Ann + Bob joined, then Ann's two role changes.
    const s = await settled(
      m,
      m.hostToken,
      (v) => v.state!.counts['participant.joined'] === 5 && v.state!.counts['poll.close'] === 1,
    );
    expect(s.state!.roster.find((r) => r.participantId === ann.participantId)!.role).toBe('attendee');
    expect(s.state!.hands).toEqual([]);
  });

  test('a token for meeting A gets 403 on every participant route of meeting B; expired and tampered tokens get 401', async () => {
    const a = await createMeeting(stack, 'A');
    const b = await createMeeting(stack, 'B');
    const bob = await join(stack, b, 'Bob');
    const routes: Array<[string, string, unknown?]> = [
      ['GET', `/meetings/${b.meetingId}`],
      ['POST', `/meetings/${b.meetingId}/events`, { type: 'chat.message', data: { text: 'x' } }],
      ['POST', `/meetings/${b.meetingId}/negotiate`],
      ['POST', `/meetings/${b.meetingId}/leave`],
      ['POST', `/meetings/${b.meetingId}/end`],
      ['POST', `/meetings/${b.meetingId}/start`],
      ['GET', `/meetings/${b.meetingId}/participants`],
      ['DELETE', `/meetings/${b.meetingId}/participants/${bob.participantId}`],
      ['PUT', `/meetings/${b.meetingId}/participants/${bob.participantId}/role`, { role: 'presenter' }],
    ];
    const expired = signToken(stack, {
      meetingId: b.meetingId,
      participantId: b.hostId,
      role: 'host',
      expiresAt: Math.floor(Date.now() / 1000) - 1,
    });
    const [h, p, sig] = b.hostToken.split('.');
    const tampered = `${h}.${p}.${sig!.slice(0, -2)}${sig!.endsWith('AA') ? 'BB' : 'AA'}`;
    const forgedRole = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), role: 'host', sub: bob.participantId })).toString('base64url')}.${sig}`;
    for (const [method, route, body] of routes) {
      expectProblem(await api(stack, method, route, { token: a.hostToken, body }), 403, 'wrong-meeting');
      expectProblem(await api(stack, method, route, { token: expired, body }), 401, 'token-expired');
      expectProblem(await api(stack, method, route, { token: tampered, body }), 401, 'token-invalid');
      expectProblem(await api(stack, method, route, { token: forgedRole, body }), 401, 'token-invalid');
      const none = await api(stack, method, route, { body });
      expectProblem(none, 401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
    }
    // Nothing above changed B.
    expect((await view(b, b.hostToken)).meeting.status).toBe('live');
  });

  test('polls: votes on unknown or closed polls, bad options and duplicate poll ids are refused; a vote can be changed while open', async () => {
    const m = await createMeeting(stack, 'Polls');
    const ann = await join(stack, m, 'Ann');
    expectProblem(
      await post(m, ann.token, { type: 'poll.vote', data: { pollId: 'nope', option: 0 } }),
      404,
      'unknown-poll',
    );
    expectProblem(
      await post(m, m.hostToken, { type: 'poll.close', data: { pollId: 'nope' } }),
      404,
      'unknown-poll',
    );
    const open = {
      id: 'open-1',
      type: 'poll.open',
      data: { pollId: 'q1', question: 'Best?', options: ['a', 'b', 'c'] },
    };
    expect((await post(m, m.hostToken, open)).status).toBe(202);
    // The same open again (same id) is a replay, not a duplicate poll.
    expect((await post(m, m.hostToken, open)).status).toBe(202);
    expectProblem(await post(m, m.hostToken, { ...open, id: 'open-2' }), 409, 'duplicate-poll');
    const badOption = await post(m, ann.token, { type: 'poll.vote', data: { pollId: 'q1', option: 3 } });
    expectProblem(badOption, 400);
    expect((badOption.body as unknown as Problem).errors![0]!.path).toBe('data.option');
    expect((await post(m, ann.token, { type: 'poll.vote', data: { pollId: 'q1', option: 0 } })).status).toBe(
      202,
    );
    expect((await post(m, ann.token, { type: 'poll.vote', data: { pollId: 'q1', option: 2 } })).status).toBe(
      202,
    );
    expect((await post(m, m.hostToken, { type: 'poll.close', data: { pollId: 'q1' } })).status).toBe(202);
    expectProblem(
      await post(m, ann.token, { type: 'poll.vote', data: { pollId: 'q1', option: 1 } }),
      409,
      'poll-closed',
    );
    // Open + vote + close in one batch are checked in order.
    const batch = await post(m, m.hostToken, {
      events: [
        { type: 'poll.open', data: { pollId: 'q2', question: 'Now?', options: ['yes', 'no'] } },
        { type: 'poll.vote', data: { pollId: 'q2', option: 1 } },
        { type: 'poll.close', data: { pollId: 'q2' } },
      ],
    });
    expect(batch.status).toBe(202);
    const s = await settled(
      m,
      ann.token,
      (v) => v.state!.polls.filter((p) => p.status === 'closed').length === 2,
    );
    expect(s.state!.polls.map((p) => [p.pollId, p.tallies])).toEqual([
      ['q1', [0, 0, 1]],
      ['q2', [0, 1]],
    ]);
    expect(await docs.eventIds(m.meetingId)).not.toContain('open-2');
  });

  test('the same event id posted twice is stored once and answered the same; a reused id with other content is a 409', async () => {
    const m = await createMeeting(stack, 'Idempotency');
    const ann = await join(stack, m, 'Ann');
    const event = { id: 'chat-once', type: 'chat.message', data: { text: 'only once' } };
    const first = await post(m, ann.token, event);
    const second = await post(m, ann.token, event);
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expectDocumented(acceptedSchema, first.body);
    expect(second.body).toEqual(first.body);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expectProblem(await post(m, ann.token, { ...event, data: { text: 'different' } }), 409, 'id-conflict');
    expectProblem(await post(m, m.hostToken, event), 409, 'id-conflict');
    const ids = await docs.eventIds(m.meetingId);
    expect(ids.filter((id) => id === 'chat-once')).toHaveLength(1);
  });

  test('batches are idempotent too: a replay is answered the same, an overlap stores only the new ids, a reused id refuses the batch', async () => {
    const m = await createMeeting(stack, 'Batch idempotency');
    const ann = await join(stack, m, 'Ann');
    const batch = [
      { id: 'bi-0', type: 'reaction', data: { emoji: '🎉' } },
      { id: 'bi-1', type: 'chat.message', data: { text: 'one' } },
    ];
    const first = await post(m, ann.token, { events: batch });
    const replay = await post(m, ann.token, { events: batch });
    expect(first.status).toBe(202);
    expect(replay.status).toBe(202);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');

    const overlap = await post(m, ann.token, {
      events: [batch[1]!, { id: 'bi-2', type: 'chat.message', data: { text: 'two' } }],
    });
    expect(overlap.status).toBe(202);
    expect(overlap.headers.get('idempotent-replayed')).toBeNull();
    const accepted = (overlap.body as { accepted: Array<{ id: string; receivedAt: string }> }).accepted;
    expect(accepted.map((a) => a.id)).toEqual(['bi-1', 'bi-2']);
    expect(accepted[0]).toEqual((first.body as { accepted: unknown[] }).accepted[1]);

    const reused = await post(m, ann.token, {
      events: [
        { id: 'bi-3', type: 'chat.message', data: { text: 'three' } },
        { id: 'bi-0', type: 'reaction', data: { emoji: '👍' } },
      ],
    });
    expectProblem(reused, 409, 'id-conflict');
    const ids = await docs.eventIds(m.meetingId);
    expect(ids).not.toContain('bi-3');
    expect(ids.filter((id) => id.startsWith('bi-')).sort()).toEqual(['bi-0', 'bi-1', 'bi-2']);
  });

  test('a batch of up to 100 events is stored as a unit; one bad event refuses the whole batch', async () => {
    const m = await createMeeting(stack, 'Batches');
    const ann = await join(stack, m, 'Ann');
    const good = Array.from({ length: 100 }, (_, i) => ({
      id: `b-${i}`,
      type: 'reaction',
      data: { emoji: '🎉' },
    }));
    const res = await post(m, ann.token, { events: good });
    expect(res.status).toBe(202);
    expect((res.body as { accepted: Array<{ id: string }> }).accepted.map((a) => a.id)).toEqual(
      good.map((e) => e.id),
    );

    const before = await docs.eventIds(m.meetingId);
    const bad = [
      ...good.slice(0, 5).map((e, i) => ({ ...e, id: `c-${i}` })),
      { id: 'c-bad', type: 'reaction', data: { emoji: '🦄' } },
    ];
    const refused = await post(m, ann.token, { events: bad });
    expectProblem(refused, 400);
    expect((refused.body as unknown as Problem).errors![0]!.path).toBe('events[5].data.emoji');
    const rule = await post(m, ann.token, {
      events: [
        { id: 'd-0', type: 'chat.message', data: { text: 'fine' } },
        { id: 'd-1', type: 'poll.vote', data: { pollId: 'missing', option: 0 } },
      ],
    });
    expectProblem(rule, 404, 'unknown-poll');
    expect(await docs.eventIds(m.meetingId)).toEqual(before);
    expectProblem(await post(m, ann.token, { events: [...good, { type: 'hand.raise' }] }), 400);
  });

  test('a participant posting faster than the limit gets 429 with Retry-After', async () => {
    const m = await createMeeting(stack, 'Rate');
    const ann = await join(stack, m, 'Ann');
    const batch = (n: number) => ({
      events: Array.from({ length: 100 }, (_, i) => ({
        id: `r-${n}-${i}`,
        type: 'reaction',
        data: { emoji: '👏' },
      })),
    });
    expect((await post(m, ann.token, batch(1))).status).toBe(202);
    expect((await post(m, ann.token, batch(2))).status).toBe(202);
    const limited = await post(m, ann.token, batch(3));
    expectProblem(limited, 429, 'rate-limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Other participants are not affected.
    expect((await post(m, m.hostToken, batch(4))).status).toBe(202);
  });

  test('an event stream opened before a removal ends right after it, and shows nothing posted later', async () => {
    const m = await createMeeting(stack, 'Removal');
    const ann = await join(stack, m, 'Ann');
    const res = await fetch(`${stack.apiUrl}/meetings/${m.meetingId}/events/stream`, {
      headers: { authorization: `Bearer ${ann.token}`, accept: 'text/event-stream' },
    });
    expect(res.status).toBe(200);
    const messages: Array<{ data: string }> = [];
    const parser = new SseParser((msg) => messages.push(msg));
    const decoder = new TextDecoder();
    const ended = (async () => {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
        parser.push(decoder.decode(chunk));
      return Date.now();
    })();
    await waitUntil(() => messages.length > 0); // the stream is live
    const removedAt = Date.now();
    expect(
      (
        await api(stack, 'DELETE', `/meetings/${m.meetingId}/participants/${ann.participantId}`, {
          token: m.hostToken,
        })
      ).status,
    ).toBe(204);
    // Well before SSE_MAX_SECONDS (60 s here).
    let timer: NodeJS.Timeout | undefined;
    const endedAt = await Promise.race([
      ended,
      new Promise<number>((r) => (timer = setTimeout(() => r(Infinity), 10_000))),
    ]);
    clearTimeout(timer);
    expect(endedAt - removedAt).toBeLessThan(10_000);
    await post(m, m.hostToken, {
      events: [{ id: 'after-removal', type: 'chat.message', data: { text: 'secret' } }],
    });
    await new Promise((r) => setTimeout(r, 500));
    const envelopes = messages.map((msg) => JSON.parse(msg.data) as EventEnvelope);
    expect(envelopes.map((e) => e.id)).not.toContain('after-removal');
    // The last thing it saw was its own removal.
    expect(envelopes.at(-1)).toMatchObject({
      type: 'participant.left',
      data: { participantId: ann.participantId, reason: 'removed' },
    });
  });

  test('a removed participant’s pending long-poll returns at once, and the next poll gets 401', async () => {
    const m = await createMeeting(stack, 'Removal long-poll');
    const bea = await join(stack, m, 'Bea');
    type Page = { items: Array<{ seq: number; type?: string; data?: { participantId?: string } }> };
    let after = 0;
    let removedAt = 0;
    let sawRemoval = false;
    while (!sawRemoval) {
      const poll = api<Page>(stack, 'GET', `/meetings/${m.meetingId}/events?after=${after}&wait=25`, {
        token: bea.token,
      });
      if (!removedAt) {
        await new Promise((r) => setTimeout(r, 300));
        removedAt = Date.now();
        await api(stack, 'DELETE', `/meetings/${m.meetingId}/participants/${bea.participantId}`, {
          token: m.hostToken,
        });
      }
      const page = await poll;
      if (page.status === 401) break; // refused from the next request on: also the end of reading
      expect(page.status).toBe(200);
      after = page.body.items.at(-1)?.seq ?? after;
      sawRemoval = page.body.items.some(
        (e) => e.type === 'participant.left' && e.data?.participantId === bea.participantId,
      );
      expect(Date.now() - removedAt).toBeLessThan(10_000);
    }
    expect(
      (await api(stack, 'GET', `/meetings/${m.meetingId}/events?after=${after}`, { token: bea.token }))
        .status,
    ).toBe(401);
  });

  test("the summary counts participants' events as accepted and system events apart", async () => {
    const m = await createMeeting(stack, 'Counting');
    expect(
      (await post(m, m.hostToken, { events: [{ id: 'c1', type: 'chat.message', data: { text: 'hi' } }] }))
        .status,
    ).toBe(202);
    let events: { accepted: number; system: number; rejected: number } | undefined;
    await waitUntil(async () => {
      const res = await api<{ summary: { chat: { messages: number }; events: typeof events } }>(
        stack,
        'GET',
        `/meetings/${m.meetingId}/summary`,
        { token: m.hostToken },
      );
      events = res.body.summary?.events;
      return res.body.summary?.chat.messages === 1;
    });
    // meeting.started and the host's participant.joined are the system's, not the participants'.
    expect(events).toEqual({ accepted: 1, system: 2, rejected: 0 });
  });

  test('a summary link opens the HTML summary without a bearer header, for its meeting only, and is no bearer token', async () => {
    const m = await createMeeting(stack, 'Linked summary');
    const other = await createMeeting(stack, 'Other');
    const link = await api<{ url: string; expiresAt: string }>(
      stack,
      'POST',
      `/meetings/${m.meetingId}/summary/link`,
      {
        token: m.hostToken,
      },
    );
    expect(link.status).toBe(200);
    expectDocumented(summaryLinkSchema, link.body);
    expect(link.body.url).not.toContain(m.hostToken);
    expect(Date.parse(link.body.expiresAt) - Date.now()).toBeLessThanOrEqual(300_000);
    const origin = new URL(stack.apiUrl).origin;
    let page: Response | undefined;
    await waitUntil(async () => {
      page = await fetch(`${origin}${link.body.url}`);
      return page.status === 200;
    }, 10_000);
    expect(page!.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page!.text()).toContain('Linked summary');

    const token = new URL(link.body.url, origin).searchParams.get('link')!;
    const forged = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    expect(
      (await fetch(`${stack.apiUrl}/meetings/${m.meetingId}/summary?format=html&link=${forged}`)).status,
    ).toBe(401);
    expect(
      (await fetch(`${stack.apiUrl}/meetings/${other.meetingId}/summary?format=html&link=${token}`)).status,
    ).toBe(403);
    // The link's token is not a participant token, anywhere.
    expectProblem(await api(stack, 'GET', `/meetings/${m.meetingId}`, { token }), 401);
    expectProblem(await api(stack, 'GET', `/meetings/${m.meetingId}/summary`, { token }), 401);
    expectProblem(await api(stack, 'POST', `/meetings/${m.meetingId}/summary/link`, { token }), 401);
  });

  test('start on a meeting that is already live (created without startsAt) answers 200, every time', async () => {
    const m = await createMeeting(stack, 'Started at creation');
    for (let i = 0; i < 2; i++) {
      const started = await api<{ meeting: { status: string } }>(
        stack,
        'POST',
        `/meetings/${m.meetingId}/start`,
        {
          token: m.hostToken,
        },
      );
      expect(started.status).toBe(200);
      expect(started.body.meeting.status).toBe('live');
    }
    const ended = await api(stack, 'POST', `/meetings/${m.meetingId}/end`, { token: m.hostToken });
    expect(ended.status).toBe(200);
    expect((await api(stack, 'POST', `/meetings/${m.meetingId}/end`, { token: m.hostToken })).status).toBe(
      200,
    );
  });

  test('lifecycle: a scheduled meeting takes joins but no events until the host starts it; an ended one refuses events and joins', async () => {
    const res = await api<{
      meeting: { id: string; status: string };
      joinCode: string;
      hostToken: string;
      host: { id: string };
    }>(stack, 'POST', '/meetings', {
      body: { title: 'Later', startsAt: new Date(Date.now() + 3_600_000).toISOString() },
    });
    expect(res.body.meeting.status).toBe('scheduled');
    const m: CreatedMeeting = {
      meetingId: res.body.meeting.id,
      joinCode: res.body.joinCode,
      hostToken: res.body.hostToken,
      hostId: res.body.host.id,
    };
    const ann = await join(stack, m, 'Ann');
    const chat = { type: 'chat.message', data: { text: 'early' } };
    expectProblem(await post(m, ann.token, chat), 409, 'meeting-not-started');
    const started = await api<{ meeting: { status: string; startedAt: string } }>(
      stack,
      'POST',
      `/meetings/${m.meetingId}/start`,
      {
        token: m.hostToken,
      },
    );
    expect(started.status).toBe(200);
    expectDocumented(meetingResponseSchema, started.body);
    expect(started.body.meeting.status).toBe('live');
    expect((await api(stack, 'POST', `/meetings/${m.meetingId}/start`, { token: m.hostToken })).status).toBe(
      200,
    );
    expect((await post(m, ann.token, chat)).status).toBe(202);

    const ended = await api<{ meeting: { status: string } }>(stack, 'POST', `/meetings/${m.meetingId}/end`, {
      token: m.hostToken,
    });
    expect(ended.status).toBe(200);
    expectDocumented(meetingResponseSchema, ended.body);
    expect(ended.body.meeting.status).toBe('ended');
    expect((await api(stack, 'POST', `/meetings/${m.meetingId}/end`, { token: m.hostToken })).status).toBe(
      200,
    );
    expectProblem(await post(m, ann.token, chat), 409, 'meeting-ended');
    expectProblem(
      await api(stack, 'POST', `/meetings/${m.meetingId}/start`, { token: m.hostToken }),
      409,
      'meeting-ended',
    );
    expectProblem(
      await api(stack, 'POST', `/meetings/${m.meetingId}/join`, {
        body: { displayName: 'Late', joinCode: m.joinCode },
      }),
      409,
      'meeting-ended',
    );
    const s = await settled(m, ann.token, (v) => v.state?.counts['meeting.ended'] === 1);
    expect(s.meeting.status).toBe('ended');
    expect(s.state!.counts['meeting.started']).toBe(1);
  });

  test('a scheduled meeting goes live by itself on the first event at or after startsAt', async () => {
    const startsAt = new Date(Date.now() + 1500).toISOString();
    const res = await api<{
      meeting: { id: string };
      joinCode: string;
      hostToken: string;
      host: { id: string };
    }>(stack, 'POST', '/meetings', { body: { title: 'Soon', startsAt } });
    const m = {
      meetingId: res.body.meeting.id,
      joinCode: res.body.joinCode,
      hostToken: res.body.hostToken,
      hostId: res.body.host.id,
    };
    const chat = { type: 'chat.message', data: { text: 'on time' } };
    expectProblem(await post(m, m.hostToken, chat), 409, 'meeting-not-started');
    await new Promise((r) => setTimeout(r, Date.parse(startsAt) - Date.now() + 50));
    expect((await post(m, m.hostToken, chat)).status).toBe(202);
    expect((await view(m, m.hostToken)).meeting.status).toBe('live');
  });

  test('leaving emits participant.left and stops events until the participant rejoins with their token', async () => {
    const m = await createMeeting(stack, 'Leave');
    const ann = await join(stack, m, 'Ann');
    const watcher = await listen(stack, m.meetingId, m.hostToken);
    listeners.push(watcher);
    const left = await api<{ participant: { status: string } }>(
      stack,
      'POST',
      `/meetings/${m.meetingId}/leave`,
      { token: ann.token },
    );
    expect(left.status).toBe(200);
    expectDocumented(participantResponseSchema, left.body);
    expect(left.body.participant.status).toBe('left');
    expect((await api(stack, 'POST', `/meetings/${m.meetingId}/leave`, { token: ann.token })).status).toBe(
      200,
    );
    expectProblem(await post(m, ann.token, { type: 'hand.raise' }), 409, 'participant-left');
    await watcher.waitFor(() =>
      events(watcher, 'participant.left').some(
        (e) => e.data.participantId === ann.participantId && e.data.reason === 'left',
      ),
    );

    const back = await api<{ participant: { id: string; status: string }; token: string }>(
      stack,
      'POST',
      `/meetings/${m.meetingId}/join`,
      { token: ann.token },
    );
    expect(back.status).toBe(200);
    expectDocumented(joinedSchema, back.body);
    expect(back.body.participant).toMatchObject({ id: ann.participantId, status: 'present' });
    expect((await post(m, back.body.token, { type: 'hand.raise' })).status).toBe(202);
    const s = await settled(m, m.hostToken, (v) => v.state!.hands.length === 1);
    expect(s.state!.roster.find((r) => r.participantId === ann.participantId)!.present).toBe(true);
    expect(
      events(watcher, 'participant.left').filter((e) => e.data.participantId === ann.participantId),
    ).toHaveLength(1);
  });

  test("removing a participant revokes their token, closes their Web PubSub connection and emits participant.left {reason:'removed'}", async () => {
    const m = await createMeeting(stack, 'Remove');
    const ann = await join(stack, m, 'Ann');
    const watcher = await listen(stack, m.meetingId, m.hostToken);
    const victim = await listen(stack, m.meetingId, ann.token);
    listeners.push(watcher, victim);
    let disconnected = false;
    victim.client.on('disconnected', () => {
      disconnected = true;
    });

    expectProblem(
      await api(stack, 'DELETE', `/meetings/${m.meetingId}/participants/${m.hostId}`, { token: m.hostToken }),
      409,
      'cannot-remove-host',
    );
    expectProblem(
      await api(stack, 'DELETE', `/meetings/${m.meetingId}/participants/nosuchperson00`, {
        token: m.hostToken,
      }),
      404,
    );
    const removed = await api(stack, 'DELETE', `/meetings/${m.meetingId}/participants/${ann.participantId}`, {
      token: m.hostToken,
    });
    expect(removed.status).toBe(204);
    expect(
      (
        await api(stack, 'DELETE', `/meetings/${m.meetingId}/participants/${ann.participantId}`, {
          token: m.hostToken,
        })
      ).status,
    ).toBe(204);
    await waitUntil(() => disconnected, 5000);

    for (const [method, route, body] of [
      ['POST', `/meetings/${m.meetingId}/events`, { type: 'chat.message', data: { text: 'still here?' } }],
      ['GET', `/meetings/${m.meetingId}`, undefined],
      ['POST', `/meetings/${m.meetingId}/negotiate`, undefined],
      ['POST', `/meetings/${m.meetingId}/join`, undefined],
    ] as const) {
      expectProblem(await api(stack, method, route, { token: ann.token, body }), 401, 'token-revoked');
    }
    await watcher.waitFor(() =>
      events(watcher, 'participant.left').some(
        (e) => e.data.participantId === ann.participantId && e.data.reason === 'removed',
      ),
    );
    const page = await api<{ items: Array<{ id: string; status: string }> }>(
      stack,
      'GET',
      `/meetings/${m.meetingId}/participants`,
      { token: m.hostToken },
    );
    expect(page.body.items.find((p) => p.id === ann.participantId)!.status).toBe('removed');
  });

  test('a removed participant cannot reconnect to Web PubSub with a client URL negotiated before the removal', async () => {
    const m = await createMeeting(stack, 'Remove and reconnect');
    const [ann, bob] = [await join(stack, m, 'Ann'), await join(stack, m, 'Bob')];
    const urlOf = async (token: string) =>
      (await api<{ url: string }>(stack, 'POST', `/meetings/${m.meetingId}/negotiate`, { token })).body.url;
    const [annUrl, bobUrl] = [await urlOf(ann.token), await urlOf(bob.token)];
    const connects = async (url: string) => {
      // No keep-alive loop: its timer would outlive a refused start.
      const client = new WebPubSubClient(url, {
        ...testClientOptions,
        autoReconnect: false,
        keepAliveIntervalInMs: 0,
        keepAliveTimeoutInMs: 0,
      });
      try {
        await client.start();
      } catch {
        return false;
      }
      const stopped = new Promise((resolve) => client.on('stopped', resolve));
      client.stop();
      await stopped;
      return true;
    };
    // Before the removal the same URL works: the refusal below is the removal's doing.
    expect(await connects(annUrl)).toBe(true);
    const removed = await api(stack, 'DELETE', `/meetings/${m.meetingId}/participants/${ann.participantId}`, {
      token: m.hostToken,
    });
    expect(removed.status).toBe(204);
    expect(await connects(annUrl)).toBe(false);
    expect(await connects(bobUrl)).toBe(true);
  });

  test('the participants list pages with continuation tokens until every participant was seen once', async () => {
    const m = await createMeeting(stack, 'Paging');
    const joined = await Promise.all(['A', 'B', 'C', 'D', 'E'].map((n) => join(stack, m, n)));
    const seen: string[] = [];
    let continuation: string | null = null;
    let pages = 0;
    do {
      const q: string = continuation ? `&continuation=${continuation}` : '';
      const res: ApiResponse<{ items: Array<{ id: string }>; continuation: string | null }> = await api(
        stack,
        'GET',
        `/meetings/${m.meetingId}/participants?limit=2${q}`,
        { token: joined[0]!.token },
      );
      expect(res.status).toBe(200);
      expectDocumented(participantPageSchema, res.body);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.items.map((p) => p.id));
      continuation = res.body.continuation;
      pages++;
    } while (continuation);
    expect(pages).toBe(3);
    expect(seen.sort()).toEqual([m.hostId, ...joined.map((j) => j.participantId)].sort());
    for (const bad of [
      'limit=0',
      'limit=201',
      'limit=abc',
      'continuation=bm90LWEtdG9rZW4',
      'continuation=%2F%2F',
      'other=1',
    ]) {
      expectProblem(
        await api(stack, 'GET', `/meetings/${m.meetingId}/participants?${bad}`, { token: m.hostToken }),
        400,
      );
    }
  });

  test('negotiate gives a client URL for this meeting only, expiring with the participant token', async () => {
    const m = await createMeeting(stack, 'Negotiate');
    const res = await api<{ url: string; group: string; expiresAt: string }>(
      stack,
      'POST',
      `/meetings/${m.meetingId}/negotiate`,
      {
        token: m.hostToken,
      },
    );
    expect(res.status).toBe(200);
    expectDocumented(negotiatedSchema, res.body);
    expect(res.body.group).toBe(`meeting.${m.meetingId}`);
    expect(res.body.url).toMatch(/^ws:\/\/.+access_token=/);
    expect(Date.parse(res.body.expiresAt)).toBeGreaterThan(Date.now());
  });
});
