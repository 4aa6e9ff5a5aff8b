import {
  applyEvent,
  flushAnalytics,
  initialModel,
  MAX_DISPLAY_NAME,
  MAX_HANDS,
  MAX_INTERVALS,
  MAX_OPEN_POLLS,
  MAX_OPTION,
  MAX_PARTICIPANT_ID,
  MAX_PARTICIPANTS,
  MAX_POLL_ID,
  MAX_POLLS,
  MAX_QUESTION,
  snapshot,
  type DraftEnvelope,
  type MeetingModel,
  type TypedStateEnvelope,
} from '../../lib/domain/meeting';
import { MAX_TALK_SPELL_MS } from '../../lib/analytics/meetingMetrics';
import type { EventDocument } from '../../lib/protocol';
import { script, T0 } from '../fixtures/events';
import { generateMeeting, rng } from '../fixtures/meetingScript';

/** Applies each event with now = its receive time + 5 ms; returns the envelopes per event. */
function run(model: MeetingModel, events: EventDocument[]): DraftEnvelope[][] {
  return events.map((e) => applyEvent(model, e, e.receivedAt + 5));
}
const states = (envs: DraftEnvelope[]) => envs.filter((e) => e.kind === 'state') as TypedStateEnvelope[];

function meeting() {
  const s = script();
  s.start(0);
  s.join('host', 0, 'host', 'Hana');
  s.join('pres', 10, 'presenter', 'Pia');
  s.join('a', 20);
  s.join('b', 30);
  const model = initialModel();
  run(model, s.events);
  const apply = (e: EventDocument) => applyEvent(model, e, e.receivedAt + 5);
  return { s, model, apply };
}

describe('event envelopes', () => {
  test('a valid event yields its event envelope with id, actor, data, receive time and trace', () => {
    const { s, apply } = meeting();
    const [env] = apply(s.add('chat.message', 1000, 'a', { text: 'hi' }));
    expect(env).toEqual({
      kind: 'event',
      type: 'chat.message',
      id: 'e6',
      actor: 'a',
      data: { text: 'hi' },
      at: new Date(T0 + 1000).toISOString(),
      trace: { accepted: T0 + 1000, processed: T0 + 1005 },
    });
  });

  test('malformed data is rejected and counted, and produces nothing', () => {
    const { s, model, apply } = meeting();
    const bad = [
      s.add('chat.message', 1, 'a', { text: '' }),
      s.add('chat.message', 2, 'a', { text: 'x'.repeat(4001) }),
      s.add('reaction', 3, 'a', { emoji: '💩' }),
      s.add('caption.segment', 4, 'a', { text: 'x', startMs: 0, endMs: 'soon', final: true }),
      s.add('poll.open', 5, 'host', { pollId: 'q', question: 'Q', options: ['only one'] }),
      s.add('poll.vote', 6, 'a', { pollId: 'q', option: 0.5 }),
      s.add('participant.joined', 7, null, { participantId: 'x', displayName: 'X', role: 'king' }),
      s.add('chat.message', 8, null, { text: 'system chat' }),
      s.add('chat.message', 9, 'x'.repeat(65), { text: 'hi' }),
      s.add('poll.open', 10, 'host', { pollId: 'p'.repeat(65), question: 'Q', options: ['a', 'b'] }),
      { ...s.add('chat.message', 11, 'a', { text: 'hi' }), receivedAt: NaN },
      { ...s.add('chat.message', 12, 'a', { text: 'hi' }), eventType: 'chat.shout' as 'chat.message' },
    ];
    for (const e of bad) expect(apply(e)).toEqual([]);
    expect(model.rejected.total).toBe(bad.length);
    expect(model.rejected.byReason).toEqual({ malformed: 11, 'unknown-type': 1 });
    expect(model.rejected.recent).toHaveLength(10);
    expect(model.eventCount).toBe(5);
  });

  test('garbage never throws and leaves a usable model', () => {
    const model = initialModel();
    const rand = rng(9);
    const values = [
      null,
      undefined,
      0,
      -1,
      NaN,
      '',
      'x',
      [],
      {},
      { text: 5 },
      'constructor',
      '__proto__',
      true,
    ];
    const pick = () => values[Math.floor(rand() * values.length)];
    const types = [
      'chat.message',
      'poll.vote',
      'hand.lower',
      'participant.joined',
      'participant.left',
      'poll.open',
      'toString',
      'nope',
    ];
    for (let i = 0; i < 5000; i++) {
      const e = {
        id: pick(),
        type: 'event',
        eventType: types[i % types.length],
        data: rand() < 0.5 ? pick() : { participantId: pick(), pollId: pick(), option: pick(), text: pick() },
        participantId: pick(),
        role: pick(),
        receivedAt: rand() < 0.9 ? T0 + i : pick(),
      } as unknown as EventDocument;
      expect(() => applyEvent(model, e, T0 + i)).not.toThrow();
    }
    expect(() => flushAnalytics(model, T0 + 10_000)).not.toThrow();
    expect(() => JSON.stringify(snapshot(model, T0 + 10_000))).not.toThrow();
  });

  test('a model persisted by the previous placeholder reducer is upgraded in place', () => {
    const old = { status: 'live', eventCount: 7 } as unknown as MeetingModel;
    const s = script();
    expect(applyEvent(old, s.add('chat.message', 0, 'a', { text: 'hi' }), T0)).toHaveLength(1);
    expect(old.eventCount).toBe(8);
    expect(snapshot(old, T0).analytics.chatRate.perMinute).toBe(1);
  });
});

describe('roster and status', () => {
  test('joins and leaves update presence with a roster envelope; a rejoin opens a new interval', () => {
    const { s, model, apply } = meeting();
    const left = states(apply(s.leave('a', 1000)));
    expect(left).toEqual([
      {
        kind: 'state',
        type: 'roster',
        data: {
          change: 'left',
          participant: {
            participantId: 'a',
            displayName: 'a',
            role: 'attendee',
            present: false,
            joinedAt: T0 + 20,
            leftAt: T0 + 1000,
          },
          present: 3,
        },
        at: new Date(T0 + 1005).toISOString(),
      },
    ]);
    const back = states(apply(s.join('a', 5000, 'attendee', 'Alice')));
    expect(back[0]?.type === 'roster' && back[0].data.participant).toMatchObject({
      displayName: 'Alice',
      present: true,
    });
    expect(model.roster.find((m) => m.id === 'a')?.intervals).toEqual([
      [T0 + 20, T0 + 1000],
      [T0 + 5000, null],
    ]);
    expect(snapshot(model, T0 + 6000).roster.find((r) => r.participantId === 'a')?.presentMs).toBe(
      980 + 1000,
    );
    // A repeated join with the same name and role changes nothing.
    expect(states(apply(s.join('a', 6000, 'attendee', 'Alice')))).toEqual([]);
  });

  test('status goes scheduled → live → ended; everything after the end is ignored', () => {
    const s = script();
    const model = initialModel();
    expect(model.status).toBe('scheduled');
    const [, status] = applyEvent(model, s.start(100), T0 + 100);
    expect(status).toMatchObject({
      kind: 'state',
      type: 'status',
      data: { status: 'live', startedAt: T0 + 100, endedAt: null },
    });
    run(model, [s.join('h', 200, 'host'), s.add('speaking.start', 300, 'h')]);
    const ended = states(applyEvent(model, s.end(1000), T0 + 1000));
    expect(ended.map((e) => e.type)).toEqual(['speaker', 'status']);
    expect(model.status).toBe('ended');
    const before = snapshot(model, T0 + 5000);
    for (const e of [
      s.add('chat.message', 2000, 'h', { text: 'late' }),
      s.start(3000),
      s.join('z', 4000),
      s.end(5000),
    ]) {
      expect(applyEvent(model, e, T0 + 6000)).toEqual([]);
    }
    expect(model.rejected.byReason).toEqual({ 'after-end': 4 });
    expect({ ...snapshot(model, T0 + 5000), rejected: null }).toEqual({ ...before, rejected: null });
    // Analytics of an ended meeting are frozen at its end.
    expect(snapshot(model, T0 + 99_000_000).asOf).toBe(T0 + 1000);
    expect(snapshot(model, T0 + 99_000_000).analytics.talkTime.totalMs).toBe(700);
  });

  test('the roster is capped', () => {
    const s = script();
    const model = initialModel();
    for (let i = 0; i < MAX_PARTICIPANTS; i++) applyEvent(model, s.join(`p${i}`, i), T0);
    expect(applyEvent(model, s.join('one-too-many', MAX_PARTICIPANTS), T0)).toEqual([]);
    expect(model.rejected.byReason).toEqual({ limit: 1 });
  });
});

describe('hand queue', () => {
  test('is FIFO and raising twice counts once', () => {
    const { s, model, apply } = meeting();
    apply(s.add('hand.raise', 100, 'b'));
    apply(s.add('hand.raise', 200, 'a'));
    const again = apply(s.add('hand.raise', 300, 'b'));
    expect(again.map((e) => e.kind)).toEqual(['event']);
    expect(model.hands.map((h) => h.participantId)).toEqual(['b', 'a']);
  });

  test('a participant lowers their own hand, with or without naming themselves', () => {
    const { s, model, apply } = meeting();
    apply(s.add('hand.raise', 100, 'a'));
    apply(s.add('hand.raise', 110, 'b'));
    const [, hands] = apply(s.add('hand.lower', 200, 'a', {}));
    expect(hands).toMatchObject({
      type: 'hands',
      data: {
        queue: [{ participantId: 'b', raisedAt: T0 + 110 }],
        change: { participantId: 'a', action: 'lowered', by: 'a' },
      },
    });
    apply(s.add('hand.lower', 300, 'b', { participantId: 'b' }));
    expect(model.hands).toEqual([]);
  });

  test('a host lowers another participant’s hand', () => {
    const { s, model, apply } = meeting();
    apply(s.add('hand.raise', 100, 'a'));
    const out = states(apply(s.add('hand.lower', 200, 'host', { participantId: 'a' })));
    expect(out[0]?.type === 'hands' && out[0].data.change).toEqual({
      participantId: 'a',
      action: 'lowered',
      by: 'host',
    });
    expect(model.hands).toEqual([]);
  });

  test('an attendee (or presenter) lowering another’s hand is ignored', () => {
    const { s, model, apply } = meeting();
    apply(s.add('hand.raise', 100, 'a'));
    expect(apply(s.add('hand.lower', 200, 'b', { participantId: 'a' }))).toEqual([]);
    expect(apply(s.add('hand.lower', 300, 'pres', { participantId: 'a' }))).toEqual([]);
    expect(model.hands.map((h) => h.participantId)).toEqual(['a']);
    expect(model.rejected.byReason).toEqual({ forbidden: 2 });
  });

  test('leaving removes the hand; a raise from someone who left is refused', () => {
    const { s, model, apply } = meeting();
    apply(s.add('hand.raise', 100, 'a'));
    const out = states(apply(s.leave('a', 200)));
    expect(out.map((e) => e.type)).toEqual(['roster', 'hands']);
    expect(model.hands).toEqual([]);
    expect(apply(s.add('hand.raise', 300, 'a'))).toEqual([]);
    expect(model.rejected.byReason).toEqual({ 'not-present': 1 });
  });
});

describe('polls', () => {
  function withPoll() {
    const m = meeting();
    m.apply(
      m.s.add('poll.open', 100, 'pres', {
        pollId: 'lunch',
        question: 'Lunch?',
        options: ['pizza', 'sushi', 'salad'],
      }),
    );
    return m;
  }
  const tallies = (model: MeetingModel) => model.polls.find((p) => p.pollId === 'lunch')?.tallies;

  test('a presenter opens a poll; an attendee cannot; a duplicate id is refused', () => {
    const { s, model, apply } = withPoll();
    expect(snapshot(model, T0).polls).toEqual([
      {
        pollId: 'lunch',
        question: 'Lunch?',
        options: ['pizza', 'sushi', 'salad'],
        status: 'open',
        tallies: [0, 0, 0],
        votes: 0,
        openedBy: 'pres',
        openedAt: T0 + 100,
        closedAt: null,
      },
    ]);
    expect(
      apply(s.add('poll.open', 200, 'a', { pollId: 'mine', question: 'Q', options: ['x', 'y'] })),
    ).toEqual([]);
    expect(
      apply(s.add('poll.open', 300, 'host', { pollId: 'lunch', question: 'Q', options: ['x', 'y'] })),
    ).toEqual([]);
    expect(model.rejected.byReason).toEqual({ forbidden: 1, 'duplicate-poll': 1 });
  });

  test('one vote per participant; changing it moves the vote', () => {
    const { s, model, apply } = withPoll();
    apply(s.add('poll.vote', 200, 'a', { pollId: 'lunch', option: 0 }));
    apply(s.add('poll.vote', 210, 'b', { pollId: 'lunch', option: 0 }));
    expect(tallies(model)).toEqual([2, 0, 0]);
    const moved = states(apply(s.add('poll.vote', 300, 'a', { pollId: 'lunch', option: 2 })));
    expect(moved[0]?.type === 'polls' && moved[0].data.poll).toMatchObject({ tallies: [1, 0, 1], votes: 2 });
    // The same vote again changes nothing (event envelope only).
    expect(apply(s.add('poll.vote', 310, 'a', { pollId: 'lunch', option: 2 })).map((e) => e.kind)).toEqual([
      'event',
    ]);
  });

  test('a vote after the close, on an unknown poll, or with a bad option is ignored and counted', () => {
    const { s, model, apply } = withPoll();
    apply(s.add('poll.vote', 200, 'a', { pollId: 'lunch', option: 1 }));
    expect(apply(s.add('poll.vote', 250, 'b', { pollId: 'lunch', option: 3 }))).toEqual([]);
    expect(apply(s.add('poll.vote', 260, 'b', { pollId: 'dinner', option: 0 }))).toEqual([]);
    const closed = states(apply(s.add('poll.close', 300, 'host', { pollId: 'lunch' })));
    expect(closed[0]?.type === 'polls' && closed[0].data.poll).toMatchObject({
      status: 'closed',
      closedAt: T0 + 300,
      tallies: [0, 1, 0],
    });
    expect(apply(s.add('poll.vote', 400, 'b', { pollId: 'lunch', option: 0 }))).toEqual([]);
    expect(tallies(model)).toEqual([0, 1, 0]);
    expect(model.rejected.byReason).toEqual({ 'invalid-option': 1, 'unknown-poll': 1, 'poll-closed': 1 });
    expect(model.polls.find((p) => p.pollId === 'lunch')?.votes).toBeNull(); // voters are forgotten once closed (bounded)
  });

  test('an attendee cannot close a poll', () => {
    const { s, model, apply } = withPoll();
    expect(apply(s.add('poll.close', 300, 'a', { pollId: 'lunch' }))).toEqual([]);
    expect(model.polls.find((p) => p.pollId === 'lunch')?.status).toBe('open');
  });
});

describe('current speaker', () => {
  test('the last speaking.start wins and a stop clears only the current speaker', () => {
    const { s, model, apply } = meeting();
    apply(s.add('speaking.start', 100, 'a'));
    const b = states(apply(s.add('speaking.start', 200, 'b')));
    expect(b).toMatchObject([{ type: 'speaker', data: { participantId: 'b', since: T0 + 200 } }]);
    expect(states(apply(s.add('speaking.stop', 300, 'a')))).toEqual([]);
    expect(model.speaker?.participantId).toBe('b');
    expect(states(apply(s.add('speaking.stop', 400, 'b')))).toMatchObject([
      { type: 'speaker', data: { participantId: null } },
    ]);
  });

  test('a repeated start neither restarts the talk interval nor re-announces the speaker', () => {
    const { s, model, apply } = meeting();
    apply(s.add('speaking.start', 1000, 'a'));
    expect(states(apply(s.add('speaking.start', 5000, 'a')))).toEqual([]);
    apply(s.add('speaking.stop', 9000, 'a'));
    expect(snapshot(model, T0 + 9000).analytics.talkTime.totalMs).toBe(8000);
  });

  test('leaving while speaking clears the speaker and closes the talk interval', () => {
    const { s, model, apply } = meeting();
    apply(s.add('speaking.start', 1000, 'a'));
    expect(states(apply(s.leave('a', 4000))).map((e) => e.type)).toEqual(['roster', 'speaker']);
    expect(snapshot(model, T0 + 100_000).analytics.talkTime.totalMs).toBe(3000);
  });
});

describe('talk time of a speaker whose client died', () => {
  test('going away while speaking clears the speaker and closes the talk interval', () => {
    const { s, model, apply } = meeting();
    apply(s.add('speaking.start', 1000, 'a'));
    const away = states(apply(s.add('participant.away', 4000, null, { participantId: 'a' })));
    expect(away.map((e) => e.type)).toEqual(['roster', 'speaker']);
    expect(snapshot(model, T0 + 100_000).analytics.talkTime.totalMs).toBe(3000);
    expect(snapshot(model, T0 + 100_000).speaker.participantId).toBeNull();
  });

  test('a start that no stop follows counts at most MAX_TALK_SPELL_MS, and the next event ends it', () => {
    const { s, model, apply } = meeting();
    apply(s.add('speaking.start', 1000, 'a'));
    const late = 1000 + MAX_TALK_SPELL_MS + 60_000;
    // As of any later time, live outputs count the spell up to its bound only.
    expect(snapshot(model, T0 + late).analytics.talkTime.totalMs).toBe(MAX_TALK_SPELL_MS);
    expect(snapshot(model, T0 + late).speaker.participantId).toBeNull();
    // The next event closes it for good and says so.
    const out = states(apply(s.add('chat.message', late, 'b', { text: 'still there?' })));
    expect(out).toMatchObject([{ type: 'speaker', data: { participantId: null } }]);
    expect(snapshot(model, T0 + late + 3_600_000).analytics.talkTime.totalMs).toBe(MAX_TALK_SPELL_MS);
  });

  test('a speaker whose client re-sends start within the bound is counted throughout', () => {
    const { s, model, apply } = meeting();
    const step = MAX_TALK_SPELL_MS / 2;
    for (let t = 1000; t < 1000 + 4 * step; t += step) apply(s.add('speaking.start', t, 'a'));
    apply(s.add('speaking.stop', 1000 + 4 * step, 'a'));
    expect(snapshot(model, T0 + 1000 + 4 * step).analytics.talkTime.totalMs).toBe(4 * step);
  });
});

describe('model size stays bounded', () => {
  test('100,000 events over 5.5 hours plateau at under 150 kB of JSON once windows and poll cap are full', () => {
    const events = generateMeeting({ seed: 1, steps: 100_000, meanGapMs: 200, end: false, pollEvery: 250 });
    const model = initialModel();
    const sizes: number[] = [];
    events.forEach((e, i) => {
      applyEvent(model, e, e.receivedAt);
      if (i % 50 === 49) flushAnalytics(model, e.receivedAt);
      if (i % 10_000 === 9_999) sizes.push(JSON.stringify(model).length);
    });
    expect(model.eventCount).toBeGreaterThan(75_000);
    expect(Math.max(...sizes)).toBeLessThan(150_000);
    // After 3 hours (timeline full) and 200 polls (cap) nothing grows any more.
    const late = sizes.slice(-3);
    expect(Math.max(...late) - Math.min(...late)).toBeLessThan(0.05 * Math.max(...late));
  });

  test('a worst-case meeting with every cap reached stays under 1.6 MB of JSON (measured 1.46 MB; Cosmos items ≤ 2 MB)', () => {
    // MAX_PARTICIPANTS with the longest ids and names, each with MAX_INTERVALS attendance
    // intervals, all having talked, reacted and voted in the open polls within the last 5 minutes,
    // MAX_HANDS raised hands, MAX_POLLS polls with the longest texts, 50 long caption segments.
    const s = script();
    const model = initialModel();
    const id = (i: number) => `p${String(i).padStart(MAX_PARTICIPANT_ID - 1, '0')}`;
    const long = (n: number) => 'q'.repeat(n);
    let t = 0;
    const apply = (e: EventDocument) => applyEvent(model, e, T0);
    apply(s.start(0));
    for (let i = 0; i < MAX_PARTICIPANTS; i++) {
      const name = 'N'.repeat(MAX_DISPLAY_NAME);
      apply(s.join(id(i), t++, i === 0 ? 'host' : 'attendee', name));
      for (let k = 1; k < MAX_INTERVALS; k++) {
        apply(s.leave(id(i), t++));
        apply(s.join(id(i), t++, i === 0 ? 'host' : 'attendee', name));
      }
    }
    const options = new Array(10).fill(long(MAX_OPTION));
    for (let p = 0; p < MAX_POLLS; p++) {
      const pollId = `${p}`.padStart(MAX_POLL_ID, 'x');
      apply(s.add('poll.open', t++, id(0), { pollId, question: long(MAX_QUESTION), options }));
      if (p < MAX_POLLS - MAX_OPEN_POLLS) apply(s.add('poll.close', t++, id(0), { pollId }));
    }
    // Everyone talks through the last 5 minutes (one interval per 10-second bucket) and is active in
    // every engagement bucket.
    t += 300_000;
    for (let b = 0; b < 30; b++, t += 10_000) {
      for (let i = 0; i < MAX_PARTICIPANTS; i++) {
        apply(s.add('speaking.start', t, id(i)));
        apply(s.add('speaking.stop', t + 9000, id(i)));
        apply(s.add('reaction', t + 9000, id(i), { emoji: '👍' }));
      }
    }
    for (let i = 0; i < MAX_PARTICIPANTS; i++) {
      apply(s.add('chat.message', t, id(i), { text: 'hi' }));
      if (i < MAX_HANDS) apply(s.add('hand.raise', t, id(i)));
      for (let p = MAX_POLLS - MAX_OPEN_POLLS; p < MAX_POLLS; p++) {
        apply(s.add('poll.vote', t, id(i), { pollId: `${p}`.padStart(MAX_POLL_ID, 'x'), option: 9 }));
      }
    }
    const words = 'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike nov '.repeat(
      30,
    );
    for (let c = 0; c < 60; c++) {
      apply(s.add('caption.segment', t, id(1), { text: words, startMs: 0, endMs: 1, final: true }));
    }
    flushAnalytics(model, T0 + t);
    expect(model.rejected.total).toBe(0);
    const size = JSON.stringify(model).length;
    expect(size).toBeLessThan(1_600_000);
  });
});

describe('ending the meeting', () => {
  test('closes what is still open: polls (tallies kept), the hand queue and speaking, in the final state', () => {
    const { s, model, apply } = meeting();
    apply(s.add('poll.open', 100, 'host', { pollId: 'q1', question: 'Lunch?', options: ['yes', 'no'] }));
    apply(s.add('poll.vote', 200, 'a', { pollId: 'q1', option: 0 }));
    apply(s.add('hand.raise', 300, 'b'));
    apply(s.add('speaking.start', 400, 'a'));
    const out = apply(s.end(1000));
    const final = snapshot(model, T0 + 5000);
    expect(final.status).toBe('ended');
    expect(final.polls).toEqual([
      expect.objectContaining({
        pollId: 'q1',
        status: 'closed',
        tallies: [1, 0],
        closedAt: T0 + 1000,
      }),
    ]);
    expect(final.hands).toEqual([]);
    expect(final.speaker).toMatchObject({ participantId: null });
    // Clients see each closure as the same state envelopes a host's own actions produce.
    const kinds = states(out).map((e) => e.type);
    expect(kinds).toEqual(expect.arrayContaining(['polls', 'hands', 'speaker', 'status']));
  });
});
