/** The web app's room model: what a page shows after folding envelopes onto a snapshot. */
import type { Envelope, MeetingSnapshot } from '../../client';
import { MAX_CHAT_LINES, fold, quantile, roomFromSnapshot } from '../../web/src/model';

const at = '2026-12-03T10:00:00.000Z';
const member = (id: string, name: string, present = true) => ({
  participantId: id,
  displayName: name,
  role: 'attendee' as const,
  present,
  joinedAt: 1,
  leftAt: present ? null : 2,
  connected: true,
});

function snapshotWith(partial: Partial<MeetingSnapshot>): MeetingSnapshot {
  return {
    status: 'live',
    startedAt: 1,
    endedAt: null,
    asOf: 1,
    eventCount: 0,
    counts: {},
    rejected: { total: 0, byReason: {} },
    roster: [],
    hands: [],
    polls: [],
    speaker: { participantId: null, since: null },
    analytics: {} as MeetingSnapshot['analytics'],
    ...partial,
  };
}

const chat = (seq: number, text: string, actor = 'a'): Envelope => ({
  kind: 'event',
  type: 'chat.message',
  seq,
  meetingId: 'm',
  at,
  id: `e${seq}`,
  actor,
  data: { text },
});
const state = (seq: number, type: string, data: Record<string, unknown>): Envelope => ({
  kind: 'state',
  type,
  seq,
  meetingId: 'm',
  at,
  data,
});

test('state envelopes already in the snapshot are skipped, later ones applied; chat history is kept from the start', () => {
  const room = roomFromSnapshot(3, snapshotWith({ roster: [{ ...member('a', 'Ada'), presentMs: 0 }] }));
  fold(room, chat(1, 'before the snapshot'), 0);
  // seq 2 is older than the snapshot: applying it would resurrect a stale roster entry.
  fold(room, state(2, 'roster', { change: 'joined', participant: member('a', 'Old name'), present: 1 }), 0);
  fold(room, state(4, 'roster', { change: 'joined', participant: member('b', 'Bob'), present: 2 }), 0);
  fold(room, chat(5, 'after'), 0);
  expect(room.roster.get('a')?.displayName).toBe('Ada');
  expect(room.roster.get('b')?.displayName).toBe('Bob');
  expect(room.present).toBe(2);
  expect(room.chat.map((c) => c.text)).toEqual(['before the snapshot', 'after']);
  expect(room.seq).toBe(5);
  expect(room.trail).toEqual([
    '1 event/chat.message',
    '2 state/roster',
    '4 state/roster',
    '5 event/chat.message',
  ]);
});

test('timeline envelopes merge the minutes they carry into the ones the page has', () => {
  const room = roomFromSnapshot(0, null);
  const timeline = (seq: number, minutes: Array<{ start: number; counts: Record<string, number> }>) =>
    ({
      kind: 'analytics',
      type: 'timeline',
      seq,
      meetingId: 'm',
      at,
      data: { minuteMs: 60_000, minutes, totals: {} },
    }) as Envelope;
  fold(room, timeline(1, [{ start: 0, counts: { reaction: 2 } }]), 0);
  fold(room, timeline(2, [{ start: 60_000, counts: { reaction: 1 } }]), 0);
  fold(room, timeline(3, [{ start: 0, counts: { reaction: 5 } }]), 0);
  expect(room.analytics.timeline?.minutes).toEqual([
    { start: 0, counts: { reaction: 5 } },
    { start: 60_000, counts: { reaction: 1 } },
  ]);
});

test("an interim caption is replaced by the speaker's next segment, a final one stays", () => {
  const room = roomFromSnapshot(0, null);
  const caption = (seq: number, text: string, final: boolean): Envelope => ({
    kind: 'event',
    type: 'caption.segment',
    seq,
    meetingId: 'm',
    at,
    id: `c${seq}`,
    actor: 'a',
    data: { text, final, startMs: 0, endMs: 1 },
  });
  fold(room, caption(1, 'hel', false), 0);
  fold(room, caption(2, 'hello world', true), 0);
  fold(room, caption(3, 'next', false), 0);
  expect(room.captions.map((c) => c.text)).toEqual(['hello world', 'next']);
});

test('the chat keeps the last lines only, and latency quantiles come from the traces', () => {
  const room = roomFromSnapshot(0, null);
  for (let i = 1; i <= MAX_CHAT_LINES + 5; i++) {
    fold(
      room,
      { ...chat(i, `m${i}`), trace: { accepted: 1000, processed: 1000 + i } } as Envelope,
      1000 + 2 * i,
    );
  }
  expect(room.chat).toHaveLength(MAX_CHAT_LINES);
  expect(room.chat[0]?.text).toBe('m6');
  expect(quantile([5, 1, 3, 2, 4], 0.5)).toBe(3);
  expect(quantile([], 0.5)).toBeUndefined();
  expect(quantile(room.latency.serverMs, 1)).toBe(MAX_CHAT_LINES + 5);
});
