import { HopMeter, hopLatency, recordHop, type HopSketches } from '../../lib/processing/latency';
import { MeetingProcessor, type ProcessorState } from '../../lib/processing/processor';
import type { EventDocument } from '../../lib/protocol';
import { MemoryPublisher, MemoryStateStore } from '../support/memoryStores';

function chat(lsn: number, receivedAt: number): EventDocument {
  return {
    id: `e${lsn}`,
    type: 'event',
    schemaVersion: 1,
    meetingId: 'M',
    eventType: 'chat.message',
    data: { text: `hello ${lsn}` },
    participantId: 'p1',
    role: 'attendee',
    receivedAt,
    _lsn: lsn,
  };
}

/** A publisher whose sends take `pushMs` of the test clock. */
class SlowPublisher extends MemoryPublisher {
  constructor(
    private readonly clock: { now: number },
    private readonly pushMs: number,
  ) {
    super();
  }
  override async publish(meetingId: string, envelopes: Parameters<MemoryPublisher['publish']>[1]) {
    this.clock.now += this.pushMs;
    return super.publish(meetingId, envelopes);
  }
}

function setup(pushMs: number) {
  const clock = { now: 10_000 };
  const store = new MemoryStateStore<ProcessorState>();
  const meter = new HopMeter();
  const processor = new MeetingProcessor({
    store,
    publisher: new SlowPublisher(clock, pushMs),
    clock: () => clock.now,
    retentionSeconds: 3600,
    log: () => undefined,
    meter,
  });
  return { clock, store, meter, processor };
}

describe('hop latency', () => {
  test('the processor measures accepted → processed and accepted → pushed for every event, stored with the next commit, and in the instance meter', async () => {
    const { store, meter, processor } = setup(40);
    // Accepted 100, 200 and 300 ms before the processor's clock.
    await processor.processBatch([chat(1, 9_900), chat(2, 9_800), chat(3, 9_700)]);
    // Both hops are measured after the commit (durable) and the push, so the first batch's
    // measurements are stored with the second batch's commit.
    expect(hopLatency((await store.load('M'))!.state.hops).processed).toBeNull();
    await processor.processBatch([chat(4, 10_040)]);
    const stored = hopLatency((await store.load('M'))!.state.hops);
    expect(stored.processed?.count).toBe(3);
    expect(stored.processed?.max).toBe(300);
    expect(stored.processed?.p50).toBeGreaterThanOrEqual(196); // 200 within 2 %
    expect(stored.processed?.p50).toBeLessThanOrEqual(204);
    // The first batch was pushed 40 ms after it was processed.
    expect(stored.pushed?.count).toBe(3);
    expect(stored.pushed?.max).toBeGreaterThanOrEqual(334);
    expect(stored.pushed?.max).toBeLessThanOrEqual(340);
    expect(stored.committed).toBeNull();
    await processor.processBatch([chat(5, 10_080)]);
    expect(hopLatency((await store.load('M'))!.state.hops).processed?.count).toBe(4);
    const instance = meter.instance();
    expect(instance.processed?.count).toBe(5);
    expect(instance.pushed?.count).toBe(5);
  });

  test('a redelivered batch is not measured twice', async () => {
    const { store, processor } = setup(0);
    const batch = [chat(1, 9_900), chat(2, 9_950)];
    await processor.processBatch(batch);
    await processor.processBatch(batch);
    await processor.processBatch([chat(3, 10_000)]);
    expect(hopLatency((await store.load('M'))!.state.hops).processed?.count).toBe(2);
  });

  test('quantiles merge across sources, and clock skew below zero counts as 0 ms', () => {
    const a: HopSketches = {};
    const b: HopSketches = {};
    for (let i = 1; i <= 99; i++) recordHop(a, 'committed', i);
    recordHop(b, 'committed', -5);
    const merged = hopLatency(a, b, undefined).committed!;
    expect(merged.count).toBe(100);
    expect(merged.p99).toBeGreaterThanOrEqual(97);
    expect(merged.p50).toBeGreaterThanOrEqual(48);
    expect(merged.p50).toBeLessThanOrEqual(51);
    expect(hopLatency(b).committed?.p50).toBe(0);
  });

  test('the instance meter keeps the committed hop per meeting for the most recently active meetings only', () => {
    const meter = new HopMeter(2);
    meter.record('A', 'committed', 10);
    meter.record('B', 'committed', 20);
    meter.record('A', 'committed', 30); // A is now the most recent
    meter.record('C', 'committed', 40); // drops B
    expect(meter.meeting('B')).toBeUndefined();
    expect(hopLatency(meter.meeting('A')).committed?.count).toBe(2);
    expect(meter.instance().committed?.count).toBe(4);
  });
});
