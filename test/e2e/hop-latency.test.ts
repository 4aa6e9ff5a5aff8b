/**
 * Hop latency end to end: events posted over HTTP and pushed over Web PubSub are timed at every
 * hop, and the snapshot, the summary and the health view report the quantiles.
 */
import { hopLatencySchema, meetingViewSchema } from '../../lib/openapi';
import {
  api,
  createMeeting,
  join,
  listen,
  startTestStack,
  waitUntil,
  type TestStack,
} from '../support/stack';

type Latency = ReturnType<typeof hopLatencySchema.parse>;

describe('hop latency', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(async () => {
    await stack?.cleanup();
  });

  test('every posted event is timed from accepted to committed, processed and pushed, and the snapshot, summary and health report it', async () => {
    const meeting = await createMeeting(stack);
    const ada = await join(stack, meeting, 'Ada');
    const listener = await listen(stack, meeting.meetingId, ada.token);
    const snapshot = async () => {
      const res = await api(stack, 'GET', `/meetings/${meeting.meetingId}`, { token: ada.token });
      return meetingViewSchema.parse(res.body).latency;
    };
    try {
      // One event per batch, each waited for, so every batch is processed and pushed alone.
      for (let i = 1; i <= 5; i++) {
        const res = await api(stack, 'POST', `/meetings/${meeting.meetingId}/events`, {
          token: ada.token,
          body: { id: `c-${i}`, type: 'chat.message', data: { text: `message ${i}` } },
        });
        expect(res.status).toBe(202);
        await listener.waitFor((envs) => envs.some((e) => e.kind === 'event' && e.id === `c-${i}`));
      }
      // The API instance timed each of its five writes (a replay is not timed again).
      await api(stack, 'POST', `/meetings/${meeting.meetingId}/events`, {
        token: ada.token,
        body: { id: 'c-1', type: 'chat.message', data: { text: 'message 1' } },
      });
      let latency: Latency = await snapshot();
      expect(latency.committed?.count).toBe(5);
      // The processor's hops are stored with the meeting's next commit: at least the first four
      // chats (and the system events before them) are in.
      await waitUntil(async () => ((latency = await snapshot()).pushed?.count ?? 0) >= 4);
      const { committed, processed, pushed } = latency;
      expect(processed!.count).toBeGreaterThanOrEqual(4);
      // Each hop ends later than the one before it: the quantiles are ordered.
      expect(committed!.p50).toBeLessThanOrEqual(processed!.p50);
      expect(processed!.p50).toBeLessThanOrEqual(pushed!.p50);
      expect(pushed!.p99).toBeLessThan(5_000);

      const summary = await api<{ summary: { latency: Latency } }>(
        stack,
        'GET',
        `/meetings/${meeting.meetingId}/summary`,
        { token: ada.token },
      );
      expect(hopLatencySchema.parse(summary.body.summary.latency).processed?.count).toBeGreaterThanOrEqual(4);

      const health = await api<{ processing: { latency: Latency } }>(stack, 'GET', '/health');
      // The HTTP runner is the instance that stored the events (the processor runs apart).
      expect(hopLatencySchema.parse(health.body.processing.latency).committed?.count).toBeGreaterThanOrEqual(
        5,
      );
    } finally {
      await listener.stop();
    }
  });
});
