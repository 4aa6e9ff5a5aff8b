/**
 * The wrong-join-code budget per client address, over a store whose meeting lookup takes a while
 * (as a Cosmos DB read does): honest joins must never be charged, however many arrive at once
 * from one address, and a guesser gets exactly `burst` answers, however it times its guesses.
 */
import type { MeetingStore, StoredMeeting } from '../../lib/adapters/cosmos';
import { DEFAULT_RATE_LIMITS } from '../../lib/config';
import { MeetingService } from '../../lib/meetings';

/** Only what create and join use; every lookup waits a few milliseconds. */
function slowStore(): MeetingStore {
  const meetings = new Map<string, StoredMeeting>();
  const later = <T>(value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), 5));
  const store: Partial<MeetingStore> = {
    createMeeting: async (meeting) => void meetings.set(meeting.meetingId, meeting),
    getMeeting: (id) => later(meetings.get(id)),
    admitParticipant: async () => 'admitted',
    createParticipant: async () => undefined,
    insertEvents: async () => [],
  };
  return store as MeetingStore;
}

function service(store: MeetingStore) {
  return new MeetingService({
    store,
    access: {
      clientAccess: async () => {
        throw new Error('not used');
      },
      closeParticipant: async () => undefined,
    },
    tokenSecret: 'unit-test-secret-of-at-least-32-bytes!!',
    tokenTtlMinutes: 60,
    clock: Date.now,
    rateLimits: {
      ...DEFAULT_RATE_LIMITS,
      joins: { perSecond: 1000, burst: 1000 },
      joinFailures: { perSecond: 0.01, burst: 3 },
    },
  });
}

const statusOf = (p: Promise<unknown>) =>
  p.then(
    () => 201,
    (err: { status?: number }) => err.status ?? 500,
  );

describe('join limits per client address', () => {
  test('200 simultaneous right-code joins from one address are all admitted', async () => {
    const store = slowStore();
    const { meeting, joinCode } = await service(store).create({ title: 'All hands' });
    const joins = service(store); // a fresh instance: nothing cached, every lookup is slow
    const answers = await Promise.all(
      Array.from({ length: 200 }, () =>
        statusOf(joins.join(meeting.id, { displayName: 'Staff', joinCode }, '203.0.113.7')),
      ),
    );
    expect(answers.filter((s) => s !== 201)).toEqual([]);
  });

  test('simultaneous wrong guesses get exactly the budget of answers, then 429, even for the right code', async () => {
    const store = slowStore();
    const { meeting, joinCode } = await service(store).create({ title: 'Target' });
    const joins = service(store);
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        statusOf(joins.join(meeting.id, { displayName: 'G', joinCode: `WRONG${i}` }, '198.51.100.9')),
      ),
    );
    expect(answers.filter((s) => s === 403)).toHaveLength(3);
    expect(answers.filter((s) => s === 429)).toHaveLength(17);
    expect(await statusOf(joins.join(meeting.id, { displayName: 'G', joinCode }, '198.51.100.9'))).toBe(429);
    // Another address is unaffected.
    expect(await statusOf(joins.join(meeting.id, { displayName: 'G', joinCode }, '198.51.100.10'))).toBe(201);
  });
});
