/**
 * The write side's use cases (lib/meetings/) over the in-memory meeting store.
 */
import { DEFAULT_RATE_LIMITS } from '../../lib/config';
import { MeetingService } from '../../lib/meetings';
import { MemoryMeetingStore } from '../support/memoryStores';

function setup() {
  let now = Date.parse('2026-05-01T10:00:00Z');
  const store = new MemoryMeetingStore();
  const closed: string[] = [];
  const instance = () =>
    new MeetingService({
      store,
      access: {
        clientAccess: async () => ({ url: 'wss://hub/client', group: 'g' }),
        closeParticipant: async (id) => void closed.push(id),
      },
      tokenSecret: 'unit-test-secret-of-at-least-32-bytes!!',
      tokenTtlMinutes: 60,
      clock: () => now,
      rateLimits: DEFAULT_RATE_LIMITS,
    });
  const service = instance();
  return { store, service, other: instance(), closed, advance: (ms: number) => (now += ms) };
}

const statusOf = (p: Promise<unknown>) =>
  p.then(
    () => 200,
    (err: { status?: number }) => err.status ?? 500,
  );

describe('meetings: lifecycle, participants, access and ingest', () => {
  test('starting a live meeting twice changes nothing and stores one meeting.started', async () => {
    const { store, service } = setup();
    const created = await service.create({ title: 'Standup' });
    const host = await service.authorize(created.token, created.meeting.id);
    await service.start(host);
    await service.start(host);
    expect(store.eventTypes(created.meeting.id).filter((t) => t === 'meeting.started')).toHaveLength(1);
  });

  test('a removed participant is refused at once here, and elsewhere after the cache window', async () => {
    const { service, other, closed, advance } = setup();
    const created = await service.create({ title: 'Standup' });
    const joined = await service.join(created.meeting.id, { displayName: 'Ann', joinCode: created.joinCode });
    await other.authorize(joined.token, created.meeting.id); // cached on the other instance
    const host = await service.authorize(created.token, created.meeting.id);
    await service.remove(host, joined.participant.id);
    expect(closed).toEqual([joined.participant.id]);
    expect(await statusOf(service.authorize(joined.token, created.meeting.id))).toBe(401);
    expect(await statusOf(other.authorize(joined.token, created.meeting.id))).toBe(200);
    advance(1_001);
    expect(await statusOf(other.authorize(joined.token, created.meeting.id))).toBe(401);
  });

  test('an attendee lowering another hand is refused with 403 before anything is stored', async () => {
    const { store, service } = setup();
    const created = await service.create({ title: 'Standup' });
    const joined = await service.join(created.meeting.id, { displayName: 'Ann', joinCode: created.joinCode });
    const ann = await service.authorize(joined.token, created.meeting.id);
    const before = store.events.size;
    const answer = await statusOf(
      service.postEvents(
        ann,
        [{ id: 'e1', type: 'hand.lower', data: { participantId: created.host.id } }] as never,
        false,
      ),
    );
    expect(answer).toBe(403);
    expect(store.events.size).toBe(before);
  });

  test('votes on unknown polls are refused and a poll beyond the open cap is refused', async () => {
    const { service } = setup();
    const created = await service.create({ title: 'Standup' });
    const host = await service.authorize(created.token, created.meeting.id);
    expect(
      await statusOf(
        service.postEvents(
          host,
          [{ id: 'v1', type: 'poll.vote', data: { pollId: 'nope', option: 0 } }] as never,
          false,
        ),
      ),
    ).toBe(404);
    for (let i = 0; i < 5; i++)
      await service.postEvents(
        host,
        [
          { id: `o${i}`, type: 'poll.open', data: { pollId: `p${i}`, question: 'Q?', options: ['a', 'b'] } },
        ] as never,
        false,
      );
    expect(
      await statusOf(
        service.postEvents(
          host,
          [
            { id: 'o9', type: 'poll.open', data: { pollId: 'p9', question: 'Q?', options: ['a', 'b'] } },
          ] as never,
          false,
        ),
      ),
    ).toBe(409);
  });

  test('leaving twice stores one participant.left and rejoining comes back under the same id', async () => {
    const { store, service } = setup();
    const created = await service.create({ title: 'Standup' });
    const joined = await service.join(created.meeting.id, { displayName: 'Ann', joinCode: created.joinCode });
    const ann = await service.authorize(joined.token, created.meeting.id);
    await service.leave(ann);
    await service.leave(await service.authorize(joined.token, created.meeting.id));
    expect(store.eventTypes(created.meeting.id).filter((t) => t === 'participant.left')).toHaveLength(1);
  });
});
