/**
 * PresenceTracker's transitions over an in-memory presence store and a scripted hub.
 */
import { PresenceTracker, presenceEventId } from '../../lib/delivery/presence';
import type { ParticipantDocument } from '../../lib/protocol';
import { MemoryPresenceStore } from '../support/memoryStores';

function setup() {
  let now = 1_000_000;
  const store = new MemoryPresenceStore();
  const hub = { online: new Set<string>(), userExists: async (id: string) => hub.online.has(id) };
  store.participants.set('p1', { participantId: 'p1' } as ParticipantDocument);
  const tracker = new PresenceTracker({
    store,
    hub,
    graceMs: 5_000,
    verifyMs: 60_000,
    clock: () => now,
  });
  return { store, hub, tracker, advance: (ms: number) => (now += ms) };
}

describe('presence tracker', () => {
  test('a participant whose last connection stays gone past the grace period is marked away, once', async () => {
    const { store, tracker, advance } = setup();
    await tracker.connected('m1', 'p1', 'c1');
    await tracker.disconnected('m1', 'p1', 'c1');
    advance(6_000);
    await tracker.check('m1', 'p1');
    await tracker.check('m1', 'p1');
    tracker.close();
    expect(store.events.map((e) => [e.id, e.eventType])).toEqual([
      [presenceEventId('p1', 1), 'participant.away'],
    ]);
    expect(store.docs.get('m1/p1')?.doc.pending).toBeUndefined();
  });

  test('reconnecting after being away announces participant.back', async () => {
    const { store, tracker, advance } = setup();
    await tracker.connected('m1', 'p1', 'c1');
    await tracker.disconnected('m1', 'p1', 'c1');
    advance(6_000);
    await tracker.check('m1', 'p1');
    await tracker.connected('m1', 'p1', 'c2');
    tracker.close();
    expect(store.events.map((e) => e.eventType)).toEqual(['participant.away', 'participant.back']);
  });

  test('a participant the hub still sees is not marked away', async () => {
    const { store, hub, tracker, advance } = setup();
    hub.online.add('p1');
    await tracker.connected('m1', 'p1', 'c1');
    await tracker.disconnected('m1', 'p1', 'c1');
    advance(6_000);
    expect(await tracker.sweep()).toBe(1);
    tracker.close();
    expect(store.events).toEqual([]);
  });

  test('no presence events are written for an ended meeting', async () => {
    const { store, tracker, advance } = setup();
    store.meetingStatus = 'ended';
    await tracker.connected('m1', 'p1', 'c1');
    await tracker.disconnected('m1', 'p1', 'c1');
    advance(6_000);
    await tracker.check('m1', 'p1');
    tracker.close();
    expect(store.events).toEqual([]);
    expect(store.docs.get('m1/p1')?.doc.away).toBe(true);
  });
});
