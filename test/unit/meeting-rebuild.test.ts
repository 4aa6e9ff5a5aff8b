import {
  applyEvent,
  flushAnalytics,
  initialModel,
  rebuildFromEvents,
  snapshot,
  type MeetingModel,
} from '../../lib/domain/meeting';
import type { EventDocument } from '../../lib/protocol';
import { generateMeeting, rng } from '../fixtures/meetingScript';

/**
 * Folds events like the processor does: in batches of random size, flushing analytics after each
 * batch, persisting and reloading the model (JSON) in between, with timer ticks on quiet stretches.
 */
function foldLive(events: EventDocument[], seed: number): { model: MeetingModel; lastNow: number } {
  const rand = rng(seed);
  let stored = JSON.stringify(initialModel());
  let lastNow = 0;
  for (let i = 0; i < events.length;) {
    const model = JSON.parse(stored) as MeetingModel;
    const size = 1 + Math.floor(rand() * 30);
    const batch = events.slice(i, i + size);
    i += size;
    const now = Math.max(lastNow, ...batch.map((e) => e.receivedAt)) + Math.floor(rand() * 2000);
    for (const e of batch) applyEvent(model, e, now);
    flushAnalytics(model, now);
    if (rand() < 0.3) flushAnalytics(model, now + 5000); // a tick before the next batch
    lastNow = now + 5000;
    stored = JSON.stringify(model);
  }
  return { model: JSON.parse(stored) as MeetingModel, lastNow };
}

describe('rebuild from the event log equals the live state', () => {
  const ended = generateMeeting({ seed: 42 });
  const live = generateMeeting({ seed: 7, steps: 600, end: false });

  for (const [name, events] of [
    ['an ended meeting', ended],
    ['a meeting still running', live],
  ] as const) {
    test(`${name}: identical snapshot at the same now, whatever the batching`, () => {
      for (const seed of [1, 2, 3]) {
        const { model, lastNow } = foldLive(events, seed);
        for (const now of [lastNow, lastNow + 30_000, lastNow + 3600_000]) {
          const rebuilt = rebuildFromEvents(events, now);
          expect(snapshot(rebuilt.model, now)).toEqual(snapshot(model, now));
        }
      }
    });
  }

  test('the rebuilt envelopes are the event envelopes of accepted events then one analytics flush', () => {
    const now = Math.max(...live.map((e) => e.receivedAt)) + 1000;
    const { model, envelopes } = rebuildFromEvents(live, now);
    expect(envelopes.filter((e) => e.kind === 'event')).toHaveLength(model.eventCount);
    const kinds = envelopes.map((e) => e.kind);
    expect(kinds.indexOf('analytics')).toBeGreaterThan(kinds.lastIndexOf('event'));
    // Each metric at most once, and only those that differ from their empty value.
    const types = envelopes.filter((e) => e.kind === 'analytics').map((e) => e.type);
    expect(new Set(types).size).toBe(types.length);
    expect(types.length).toBeGreaterThanOrEqual(6);
  });

  test('events given out of order are folded in feed (LSN) order; non-event documents are skipped', () => {
    const now = Math.max(...live.map((e) => e.receivedAt)) + 1000;
    const shuffled = [...live].reverse();
    const noise = [{ id: 'page.1', type: 'page' } as unknown as EventDocument];
    const a = rebuildFromEvents(live, now).model;
    const b = rebuildFromEvents([...noise, ...shuffled], now).model;
    expect(snapshot(b, now)).toEqual(snapshot(a, now));
  });

  test('a model survives a JSON round trip unchanged', () => {
    const { model } = rebuildFromEvents(live, 0);
    const copy = JSON.parse(JSON.stringify(model)) as MeetingModel;
    expect(copy).toEqual(model);
    const next = live[live.length - 1]!;
    const more = {
      ...next,
      id: 'extra',
      _lsn: 1e9,
      receivedAt: next.receivedAt + 10,
      eventType: 'chat.message' as const,
      data: { text: 'one more' },
    };
    expect(applyEvent(copy, more, 0)).toEqual(applyEvent(model, more, 0));
    expect(snapshot(copy, 0)).toEqual(snapshot(model, 0));
  });
});
