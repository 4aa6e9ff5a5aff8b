/**
 * Exactly-once effects on an at-least-once feed: the scripted meeting processed under injected
 * faults (failed commits, redelivered batches, lease takeover by a fresh instance, hub outages)
 * ends in exactly the state of a fault-free run, with every accepted event sequenced once.
 */
import { snapshot } from '../../lib/domain/meeting';
import type { Envelope, EventEnvelope } from '../../lib/protocol';
import { MeetingProcessor, type ProcessorState } from '../../lib/processing/processor';
import { generateMeeting, rng } from '../fixtures/meetingScript';
import { MemoryPublisher, MemoryStateStore } from '../support/memoryStores';

const MEETING = 'm1';

function harness(clock: () => number) {
  const store = new MemoryStateStore<ProcessorState>();
  const publisher = new MemoryPublisher();
  const make = () =>
    new MeetingProcessor({
      store,
      publisher,
      clock,
      retentionSeconds: 3600,
      log: () => undefined,
      maxPageBytes: 4096,
    });
  return { store, publisher, make };
}

const eventIds = (envelopes: Envelope[]) =>
  envelopes.filter((e): e is EventEnvelope => e.kind === 'event').map((e) => e.id);

describe('processing under faults', () => {
  const events = generateMeeting({ seed: 7, steps: 400, meetingId: MEETING });
  const end = Math.max(...events.map((e) => e.receivedAt)) + 1000;

  async function cleanRun() {
    const h = harness(() => end);
    const p = h.make();
    for (let i = 0; i < events.length; i += 25) await p.processBatch(events.slice(i, i + 25));
    return h;
  }

  test('a run with failed commits, redeliveries, takeovers and hub outages ends exactly like a clean run', async () => {
    const clean = await cleanRun();
    const faulty = harness(() => end);
    const rand = rng(99);
    let processor = faulty.make();
    let checkpoint = 0;
    const faults = { commits: 0, redeliveries: 0, takeovers: 0, outages: 0 };
    while (checkpoint < events.length) {
      const size = 1 + Math.floor(rand() * 40);
      // Redelivery: the feed sometimes starts again a little before the checkpoint.
      const from = rand() < 0.2 ? Math.max(0, checkpoint - Math.floor(rand() * 30)) : checkpoint;
      if (from < checkpoint) faults.redeliveries++;
      const batch = events.slice(from, checkpoint + size);
      if (rand() < 0.15) {
        faulty.store.failNextCommit = new Error('injected: connection reset');
        faults.commits++;
      }
      faulty.publisher.failing = rand() < 0.15;
      if (faulty.publisher.failing) faults.outages++;
      if (rand() < 0.1) {
        processor = faulty.make();
        faults.takeovers++;
      }
      try {
        await processor.processBatch(batch);
        checkpoint += size; // checkpoint only after success, as the trigger does
      } catch {
        // the batch is delivered again on the next round
      }
    }
    faulty.publisher.failing = false;
    await processor.tick([MEETING]);

    expect(faults.commits).toBeGreaterThan(0);
    expect(faults.redeliveries).toBeGreaterThan(0);
    expect(faults.takeovers).toBeGreaterThan(0);
    expect(faults.outages).toBeGreaterThan(0);

    const finalState = async (h: ReturnType<typeof harness>) => (await h.store.load(MEETING))!.state;
    const [a, b] = [await finalState(clean), await finalState(faulty)];
    expect(snapshot(b.model, end)).toEqual(snapshot(a.model, end));
    expect(b.lsn).toBe(a.lsn);

    // Every accepted event appears once, in feed order, in both logs.
    const stored = faulty.store.envelopes(MEETING);
    expect(eventIds(stored)).toEqual(eventIds(clean.store.envelopes(MEETING)));
    expect(new Set(eventIds(stored)).size).toBe(eventIds(stored).length);
    expect(stored.map((e) => e.seq)).toEqual(stored.map((_, i) => i + 1));

    // What participants received, after dedupe by seq, is exactly the stored log.
    const delivered = [...new Map(faulty.publisher.delivered(MEETING).map((e) => [e.seq, e])).values()];
    expect(delivered.sort((x, y) => x.seq - y.seq)).toEqual(stored);
  });

  test('in a quiet meeting the tick moves the windows and pushes only what changed', async () => {
    let now = Date.parse('2026-01-01T10:00:00Z');
    const h = harness(() => now);
    const p = h.make();
    const base = { type: 'event' as const, schemaVersion: 1, meetingId: MEETING };
    await p.processBatch([
      {
        ...base,
        id: 's',
        eventType: 'meeting.started',
        data: {},
        participantId: null,
        role: null,
        receivedAt: now,
        _lsn: 1,
      },
      {
        ...base,
        id: 'j',
        eventType: 'participant.joined',
        data: { participantId: 'p1', displayName: 'P', role: 'host' },
        participantId: 'p1',
        role: 'host',
        receivedAt: now,
        _lsn: 2,
      },
      {
        ...base,
        id: 'c',
        eventType: 'chat.message',
        data: { text: 'hi' },
        participantId: 'p1',
        role: 'host',
        receivedAt: now,
        _lsn: 3,
      },
    ]);
    const chatRate = () =>
      h.store
        .envelopes(MEETING)
        .filter((e) => e.kind === 'analytics' && e.type === 'chatRate')
        .map((e) => (e.data as { perMinute: number }).perMinute);
    expect(chatRate()).toEqual([1]);

    now += 30_000;
    await p.tick([MEETING]);
    expect(chatRate()).toEqual([1]); // still inside the 60 s window: nothing changed, nothing sent

    now += 31_000;
    await p.tick([MEETING]);
    expect(chatRate()).toEqual([1, 0]); // the chat slid out of the window
    const sends = h.publisher.sends.length;
    await p.tick([MEETING]);
    expect(h.publisher.sends.length).toBe(sends); // a tick with no change sends nothing
  });
});
