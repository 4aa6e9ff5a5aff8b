import {
  applyEvent,
  flushAnalytics,
  initialModel,
  snapshot,
  type MeetingModel,
  type TypedAnalyticsEnvelope,
} from '../../lib/domain/meeting';
import type { EventDocument } from '../../lib/protocol';
import { expectMatchesReference } from '../fixtures/compare';
import { script, T0 } from '../fixtures/events';
import { generateMeeting } from '../fixtures/meetingScript';
import { reference } from '../fixtures/reference';

function fold(events: EventDocument[], flushEvery = 0): MeetingModel {
  const model = initialModel();
  events.forEach((e, i) => {
    applyEvent(model, e, e.receivedAt + 7);
    if (flushEvery && i % flushEvery === 0) flushAnalytics(model, e.receivedAt + 7);
  });
  return model;
}

describe('meeting analytics on a hand-computed script', () => {
  const s = script();
  s.start(0);
  s.join('A', 0, 'host');
  s.join('B', 0);
  s.join('C', 0);
  s.add('speaking.start', 1000, 'A');
  s.add('chat.message', 5000, 'B', { text: 'Budget review first' });
  s.add('chat.message', 10_000, 'B', { text: 'then the roadmap' });
  s.add('speaking.start', 20_000, 'B');
  s.add('speaking.stop', 31_000, 'A');
  s.add('reaction', 58_000, 'C', { emoji: '👍' });
  s.add('caption.segment', 59_000, 'B', {
    text: 'The budget, the BUDGET!',
    startMs: 0,
    endMs: 1,
    final: true,
  });
  s.add('caption.segment', 59_500, 'B', { text: 'budget budget budget', startMs: 0, endMs: 1, final: false });
  const model = fold(s.events);
  const a = snapshot(model, T0 + 61_000).analytics;

  test('chat rate counts the two messages of the last minute', () => {
    expect(a.chatRate).toEqual({ windowMs: 60_000, perMinute: 2 });
    // 65 s later the first message (5 s) has left the window, 70 s later both.
    expect(snapshot(model, T0 + 65_000).analytics.chatRate.perMinute).toBe(1);
    expect(snapshot(model, T0 + 70_000).analytics.chatRate.perMinute).toBe(0);
  });

  test('reactions of the last 10 s are counted per emoji', () => {
    expect(a.reactions).toEqual({ windowMs: 10_000, total: 1, emoji: [{ emoji: '👍', count: 1 }] });
    expect(snapshot(model, T0 + 68_000).analytics.reactions.total).toBe(0);
  });

  test('talk time counts a closed interval and an open one up to now; shares add up', () => {
    const byId = Object.fromEntries(a.talkTime.participants.map((p) => [p.participantId, p]));
    expect(byId.A).toMatchObject({ totalMs: 30_000, recentMs: 30_000, share: 30 / 71 });
    expect(byId.B).toMatchObject({ totalMs: 41_000, recentMs: 41_000, share: 41 / 71 });
    expect(byId.C).toMatchObject({ totalMs: 0, share: 0 });
    expect(a.talkTime.participants.map((p) => p.participantId)).toEqual(['B', 'A', 'C']);
  });

  test('Gini over present participants [30 s, 41 s, 0] is 164 / 426', () => {
    // Σ|xi − xj| over ordered pairs = 2·(11 + 30 + 41) = 164 (s); 2·n·Σx = 2·3·71 = 426.
    expect(a.balance.gini).toBeCloseTo(164 / 426, 12);
    expect(a.balance.present).toBe(3);
  });

  test('keywords come from final segments only, stop words removed', () => {
    expect(a.keywords).toEqual({ segments: 1, keywords: [{ word: 'budget', count: 2 }] });
  });

  test('engagement uses the documented weights', () => {
    const byId = Object.fromEntries(a.engagement.participants.map((p) => [p.participantId, p.score]));
    expect(byId.B).toBeCloseTo(2 * 3 + 41 * 0.1, 12); // two chats + 41 s of talk
    expect(byId.A).toBeCloseTo(30 * 0.1, 12);
    expect(byId.C).toBe(1); // one reaction
  });

  test('attendance and timeline', () => {
    expect(a.attendance).toEqual({ present: 3, peak: 3, total: 3 });
    expect(a.timeline.minutes).toEqual([
      {
        start: T0,
        counts: {
          'meeting.started': 1,
          'participant.joined': 3,
          'speaking.start': 2,
          'chat.message': 2,
          'speaking.stop': 1,
          reaction: 1,
          'caption.segment': 2,
        },
      },
    ]);
  });

  test('a leave closes the talk interval and lowers attendance, the peak stays', () => {
    const m = fold(s.events);
    applyEvent(m, s.leave('B', 70_000), T0 + 70_000);
    const after = snapshot(m, T0 + 200_000).analytics;
    expect(after.attendance).toEqual({ present: 2, peak: 3, total: 3 });
    expect(after.talkTime.participants.find((p) => p.participantId === 'B')?.totalMs).toBe(50_000);
  });
});

describe('meeting analytics on the scripted fixture equal a brute-force reference', () => {
  const events = generateMeeting({ seed: 42 });

  test('the fixture covers what it claims', () => {
    const types = new Set(events.map((e) => e.eventType));
    expect(types.size).toBe(14);
    expect(events.length).toBeGreaterThan(300);
    expect(new Set(events.map((e) => e.participantId)).size).toBeGreaterThanOrEqual(9);
    const ref = reference(events, 0);
    expect(ref.rejected).toBeGreaterThan(5);
    expect(ref.polls.map((p) => p.status)).toEqual(['closed', 'closed']);
    // Some participant changed their vote, and votes arrived after a close.
    const votes = ref.accepted.filter((e) => e.eventType === 'poll.vote');
    const changed = votes.some((v) =>
      votes.some(
        (w) =>
          w.participantId === v.participantId &&
          w.data.pollId === v.data.pollId &&
          w.data.option !== v.data.option,
      ),
    );
    expect(changed).toBe(true);
    const closedAt = new Map(
      events.filter((e) => e.eventType === 'poll.close').map((e) => [e.data.pollId, e._lsn!]),
    );
    const late = events.filter(
      (e) => e.eventType === 'poll.vote' && e._lsn! > (closedAt.get(e.data.pollId) ?? Infinity),
    );
    expect(late.length).toBeGreaterThanOrEqual(2);
    expect(events.some((e, i) => i > 0 && e.receivedAt < events[i - 1]!.receivedAt)).toBe(true);
  });

  const cuts = [40, 120, 200, 333, events.length - 3, events.length];
  for (const cut of cuts) {
    for (const delay of [0, 4_000, 61_000, 12 * 60_000]) {
      test(`after ${cut} events, as of ${delay / 1000} s after the last one`, () => {
        const prefix = events.slice(0, cut);
        const model = fold(prefix, 13);
        const now = Math.max(...prefix.map((e) => e.receivedAt)) + delay;
        expectMatchesReference(snapshot(model, now), reference(prefix, now));
      });
    }
  }
});

describe('flushAnalytics', () => {
  test('emits only metrics that changed since the last flush', () => {
    const s = script();
    s.start(0);
    s.join('A', 0, 'host');
    const model = initialModel();
    for (const e of s.events) applyEvent(model, e, e.receivedAt);
    const first = flushAnalytics(model, T0 + 1000) as TypedAnalyticsEnvelope[];
    expect(first.map((e) => e.type).sort()).toEqual([
      'attendance',
      'balance',
      'engagement',
      'talkTime',
      'timeline',
    ]);
    expect(flushAnalytics(model, T0 + 1000)).toEqual([]);
    applyEvent(model, s.add('chat.message', 2000, 'A', { text: 'hi' }), T0 + 2000);
    const second = flushAnalytics(model, T0 + 2000) as TypedAnalyticsEnvelope[];
    expect(second.map((e) => e.type).sort()).toEqual(['chatRate', 'engagement', 'timeline']);
    const timeline = second.find((e) => e.type === 'timeline');
    expect(timeline?.type === 'timeline' && timeline.data.minutes).toEqual([
      { start: T0, counts: { 'chat.message': 1, 'meeting.started': 1, 'participant.joined': 1 } },
    ]);
    expect(second.every((e) => e.kind === 'analytics' && e.at === new Date(T0 + 2000).toISOString())).toBe(
      true,
    );
  });

  test('a quiet meeting’s windows keep moving on periodic flushes', () => {
    const s = script();
    s.start(0);
    s.join('A', 0, 'host');
    s.add('chat.message', 1000, 'A', { text: 'hi' });
    const model = initialModel();
    for (const e of s.events) applyEvent(model, e, e.receivedAt);
    flushAnalytics(model, T0 + 1000);
    const chatRates: number[] = [];
    for (let now = T0 + 10_000; now <= T0 + 120_000; now += 10_000) {
      for (const env of flushAnalytics(model, now) as TypedAnalyticsEnvelope[]) {
        if (env.type === 'chatRate') chatRates.push(env.data.perMinute);
      }
    }
    expect(chatRates).toEqual([0]); // emitted once, when the message left the window
    const engagementNow = snapshot(model, T0 + 400_000).analytics.engagement.participants;
    expect(engagementNow).toEqual([{ participantId: 'A', score: 0 }]);
  });
});
