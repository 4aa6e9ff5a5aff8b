/**
 * Restarts under load: the runner killed mid-stream resumes from its lease checkpoint (nothing
 * lost, nothing applied twice), and the embedded Cosmos DB keeps its data across a crash.
 */
import type { Envelope, EventEnvelope } from '../../lib/protocol';
import {
  api,
  createMeeting,
  join,
  listen,
  sleep,
  startTestStack,
  waitUntil,
  type TestStack,
  storedLog,
} from '../support/stack';

const events = (envelopes: Envelope[]) => envelopes.filter((e): e is EventEnvelope => e.kind === 'event');
const storedEvents = async (stack: TestStack, meetingId: string) => events(await storedLog(stack, meetingId));

describe('restarts', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack();
  });

  afterAll(async () => {
    await stack?.cleanup();
  });

  test('when the runner is killed mid-stream and restarted, every accepted event is sequenced exactly once', async () => {
    const meeting = await createMeeting(stack, 'crash');
    const p = await join(stack, meeting, 'Pat');
    const ids: string[] = [];
    let stopPosting = false;
    let apiUrl = stack.apiUrl;
    // Post continuously; while the runner is down posts fail and are retried, like a real client.
    const poster = (async () => {
      for (let i = 0; !stopPosting && i < 400; i++) {
        const id = `c-${i}`;
        for (;;) {
          try {
            const res = await fetch(`${apiUrl}/meetings/${meeting.meetingId}/events`, {
              method: 'POST',
              headers: { authorization: `Bearer ${p.token}`, 'content-type': 'application/json' },
              body: JSON.stringify({ id, type: 'chat.message', data: { text: `m${i}` } }),
            });
            if (res.status === 202) break;
          } catch {
            // runner down
          }
          await sleep(20);
        }
        ids.push(id);
      }
    })();

    await waitUntil(() => ids.length >= 60);
    await stack.runner.kill();
    await sleep(300);
    await stack.startRunner();
    apiUrl = stack.apiUrl;
    await waitUntil(() => ids.length >= 150, 30_000);
    stopPosting = true;
    await poster;

    await waitUntil(
      async () => (await storedEvents(stack, meeting.meetingId)).length >= ids.length + 2,
      30_000,
    );
    const envelopes = await storedLog(stack, meeting.meetingId);
    const chatIds = events(envelopes)
      .filter((e) => e.type === 'chat.message')
      .map((e) => e.id);
    expect(chatIds).toEqual(ids);
    const seqs = envelopes.map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });

  test('a participant connected across the runner restart receives every envelope once, in order', async () => {
    const meeting = await createMeeting(stack, 'live across restart');
    const listener = await listen(stack, meeting.meetingId, meeting.hostToken);
    const post = (id: string) =>
      api(stack, 'POST', `/meetings/${meeting.meetingId}/events`, {
        token: meeting.hostToken,
        body: { id, type: 'chat.message', data: { text: id } },
      });
    for (let i = 0; i < 20; i++) expect((await post(`before-${i}`)).status).toBe(202);
    await stack.runner.kill();
    await stack.startRunner();
    for (let i = 0; i < 20; i++) expect((await post(`after-${i}`)).status).toBe(202);
    await listener.waitFor((envs) => envs.some((e) => e.kind === 'event' && e.id === 'after-19'));
    const unique = [...new Map(listener.envelopes.map((e) => [e.seq, e])).values()];
    expect(unique.map((e) => e.seq)).toEqual(unique.map((_, i) => unique[0]!.seq + i));
    // Everything from the first envelope it received onwards equals the stored log exactly.
    const stored = await storedLog(stack, meeting.meetingId);
    expect(unique).toEqual(stored.filter((e) => e.seq >= unique[0]!.seq));
    await listener.stop();
  });

  test('data written before the embedded Cosmos DB crashes is there after it restarts, and the pipeline carries on', async () => {
    const meeting = await createMeeting(stack, 'durable');
    await api(stack, 'POST', `/meetings/${meeting.meetingId}/events`, {
      token: meeting.hostToken,
      body: { id: 'before-crash', type: 'chat.message', data: { text: 'kept?' } },
    });
    await waitUntil(async () =>
      (await storedEvents(stack, meeting.meetingId)).some((e) => e.id === 'before-crash'),
    );
    await stack.cosmos!.kill();
    await stack.startCosmos();

    // The meeting, its participants and its processed output all survived.
    const joined = await join(stack, meeting, 'Late Larry');
    expect(joined.token).toBeTruthy();
    expect((await storedEvents(stack, meeting.meetingId)).map((e) => e.id)).toContain('before-crash');

    // The runner's change feed reconnects and resumes from its checkpoint.
    const res = await api(stack, 'POST', `/meetings/${meeting.meetingId}/events`, {
      token: joined.token,
      body: { id: 'after-crash', type: 'chat.message', data: { text: 'still flowing' } },
    });
    expect(res.status).toBe(202);
    await waitUntil(
      async () => (await storedEvents(stack, meeting.meetingId)).some((e) => e.id === 'after-crash'),
      30_000,
    );
    const ids = (await storedEvents(stack, meeting.meetingId)).map((e) => e.id);
    expect(ids.filter((id) => id === 'before-crash')).toHaveLength(1);
  });
});
