/**
 * The walking skeleton end to end: HTTP through the runner, Cosmos DB change feed, processor,
 * Web PubSub group delivery, and meeting isolation — all through the official clients.
 */
import type { EventEnvelope } from '../../lib/protocol';
import {
  api,
  createMeeting,
  join,
  listen,
  sleep,
  startTestStack,
  type Listener,
  type TestStack,
} from '../support/stack';

const chats = (l: Listener) =>
  l.envelopes.filter((e): e is EventEnvelope => e.kind === 'event' && e.type === 'chat.message');

describe('one meeting pipeline on the embedded local stack', () => {
  let stack: TestStack;
  const listeners: Listener[] = [];

  beforeAll(async () => {
    stack = await startTestStack();
  });

  afterAll(async () => {
    await Promise.all(listeners.map((l) => l.stop()));
    await stack?.cleanup();
  });

  test('health reports both dependencies reachable', async () => {
    const res = await api<{ status: string; dependencies: Record<string, { ok: boolean }> }>(
      stack,
      'GET',
      '/health',
    );
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ok');
    expect(res.body.dependencies.cosmos!.ok).toBe(true);
    expect(res.body.dependencies.webPubSub!.ok).toBe(true);
  });

  test("a chat posted in meeting A reaches both of A's participants as an envelope and never reaches B", async () => {
    const a = await createMeeting(stack, 'A');
    const b = await createMeeting(stack, 'B');
    const [a1, a2, b1] = await Promise.all([
      join(stack, a, 'Ann'),
      join(stack, a, 'Abe'),
      join(stack, b, 'Bea'),
    ]);
    const [la1, la2, lb1] = await Promise.all([
      listen(stack, a.meetingId, a1.token),
      listen(stack, a.meetingId, a2.token),
      listen(stack, b.meetingId, b1.token),
    ]);
    listeners.push(la1, la2, lb1);

    const posted = await api(stack, 'POST', `/meetings/${a.meetingId}/events`, {
      token: a1.token,
      body: { id: 'chat-1', type: 'chat.message', data: { text: 'hello A' } },
    });
    expect(posted.status).toBe(202);

    for (const l of [la1, la2]) await l.waitFor(() => chats(l).some((e) => e.id === 'chat-1'));
    const envelope = chats(la1).find((e) => e.id === 'chat-1')!;
    expect(envelope).toMatchObject({
      meetingId: a.meetingId,
      kind: 'event',
      type: 'chat.message',
      actor: a1.participantId,
      data: { text: 'hello A' },
    });
    expect(typeof envelope.seq).toBe('number');
    expect(Date.parse(envelope.at)).not.toBeNaN();
    expect(chats(la2).find((e) => e.id === 'chat-1')).toEqual(envelope);

    // B's own traffic arrives, and A's never does.
    await api(stack, 'POST', `/meetings/${b.meetingId}/events`, {
      token: b1.token,
      body: { id: 'chat-b', type: 'chat.message', data: { text: 'hello B' } },
    });
    await lb1.waitFor(() => chats(lb1).some((e) => e.id === 'chat-b'));
    await sleep(200);
    expect(lb1.envelopes.every((e) => e.meetingId === b.meetingId)).toBe(true);
    expect(chats(lb1).map((e) => e.id)).toEqual(['chat-b']);

    // Envelopes arrive with consecutive seq (they joined after the first ones were pushed), and
    // both A participants hold the same envelopes.
    await la1.waitFor((envs) => envs.length >= la2.envelopes.length);
    const seqs = la1.envelopes.map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    const common = la2.envelopes.filter((e) => seqs.includes(e.seq));
    expect(common).toEqual(la1.envelopes.filter((e) => common.some((c) => c.seq === e.seq)));
  });

  test("B's Web PubSub connection is refused when it tries to join A's group", async () => {
    const a = await createMeeting(stack, 'A2');
    const b = await createMeeting(stack, 'B2');
    const la = await listen(stack, a.meetingId, a.hostToken);
    const lb = await listen(stack, b.meetingId, b.hostToken);
    listeners.push(la, lb);
    await expect(lb.client.joinGroup(la.group)).rejects.toBeDefined();
    await expect(lb.client.sendToGroup(lb.group, 'hi', 'text')).rejects.toBeDefined();
  });

  test("a participant's token for A is refused (403) on B's routes", async () => {
    const a = await createMeeting(stack, 'A3');
    const b = await createMeeting(stack, 'B3');
    const body = { type: 'chat.message', data: { text: 'sneaky' } };
    const events = await api(stack, 'POST', `/meetings/${b.meetingId}/events`, { token: a.hostToken, body });
    const negotiate = await api(stack, 'POST', `/meetings/${b.meetingId}/negotiate`, { token: a.hostToken });
    expect(events.status).toBe(403);
    expect(negotiate.status).toBe(403);
    expect(events.headers.get('content-type')).toContain('application/problem+json');
    expect(await api(stack, 'POST', `/meetings/${b.meetingId}/events`, { body })).toMatchObject({
      status: 401,
    });
  });
});
