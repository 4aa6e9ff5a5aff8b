import type { Envelope, EventDocument } from '../../lib/protocol';
import { MeetingProcessor, type ProcessorState } from '../../lib/processing/processor';
import { MemoryPublisher, MemoryStateStore } from '../support/memoryStores';

let lsn = 0;
function chat(meetingId: string, text: string, id = `e${lsn + 1}`): EventDocument {
  lsn++;
  return {
    id,
    type: 'event',
    schemaVersion: 1,
    meetingId,
    eventType: 'chat.message',
    data: { text },
    participantId: 'p1',
    role: 'attendee',
    receivedAt: 1_000_000 + lsn,
    _lsn: lsn,
  };
}

function setup(opts: { maxPageBytes?: number } = {}) {
  const store = new MemoryStateStore<ProcessorState>();
  const publisher = new MemoryPublisher();
  const make = () =>
    new MeetingProcessor({
      store,
      publisher,
      clock: () => 2_000_000,
      retentionSeconds: 3600,
      log: () => undefined,
      maxPageBytes: opts.maxPageBytes,
    });
  return { store, publisher, make };
}

const eventSeqs = (envs: Array<{ seq: number; kind: string }>) =>
  envs.filter((e) => e.kind === 'event').map((e) => e.seq);
const seqs = (envs: Array<{ seq: number }>) => envs.map((e) => e.seq);
const oneToN = (envs: Array<{ seq: number }>) => envs.map((_, i) => i + 1);
const unique = <T extends { seq: number }>(envs: T[]) => [...new Map(envs.map((e) => [e.seq, e])).values()];
const ids = (envs: Array<{ kind: string; id?: string }>) =>
  envs.filter((e) => e.kind === 'event').map((e) => (e as { id: string }).id);

describe('change-feed processor', () => {
  beforeEach(() => {
    lsn = 0;
  });

  test('every document of every batch is processed, per meeting in feed order, with gapless seq from 1', async () => {
    const { store, publisher, make } = setup();
    const p = make();
    const batch = [chat('A', 'a1'), chat('B', 'b1'), chat('A', 'a2'), chat('A', 'a3'), chat('B', 'b2')];
    await p.processBatch(batch);
    const a = store.envelopes('A');
    expect(ids(a)).toEqual(['e1', 'e3', 'e4']);
    expect(seqs(a)).toEqual(a.map((_, i) => i + 1));
    expect(ids(store.envelopes('B'))).toEqual(['e2', 'e5']);
    expect(publisher.delivered('A')).toEqual(a);
  });

  test('each batch becomes one send per meeting carrying all of its envelopes', async () => {
    const { publisher, make } = setup();
    await make().processBatch([chat('A', '1'), chat('A', '2'), chat('B', '3'), chat('A', '4')]);
    expect(publisher.sends.filter((s) => s.meetingId === 'A')).toHaveLength(1);
    expect(publisher.sends.filter((s) => s.meetingId === 'B')).toHaveLength(1);
  });

  test('a batch delivered twice changes nothing the second time, even on a fresh instance', async () => {
    const { store, publisher, make } = setup();
    const batch = [chat('A', '1'), chat('A', '2')];
    await make().processBatch(batch);
    const before = store.envelopes('A');
    const report = await make().processBatch(batch);
    expect(report.redelivered).toBe(2);
    expect(store.envelopes('A')).toEqual(before);
    // A fresh instance may re-push the last batch (its push is not recorded durably); after the
    // clients' dedupe by seq the delivered sequence is exactly the stored one.
    expect([...new Set(eventSeqs(publisher.delivered('A')))]).toEqual(eventSeqs(before));
  });

  test('a partially redelivered batch applies only the new documents', async () => {
    const { store, make } = setup();
    const first = [chat('A', '1'), chat('A', '2')];
    const p = make();
    await p.processBatch(first);
    await p.processBatch([...first, chat('A', '3')]);
    expect(ids(store.envelopes('A'))).toEqual(['e1', 'e2', 'e3']);
    expect(seqs(store.envelopes('A'))).toEqual(oneToN(store.envelopes('A')));
  });

  test('when another instance committed first, the work is redone on its state without a gap or duplicate', async () => {
    const { store, make } = setup();
    const stale = make();
    await stale.processBatch([chat('A', '1')]);
    // Another instance takes over the lease and processes the next event.
    const e2 = chat('A', '2');
    await make().processBatch([e2]);
    // The stale instance still has the old etag cached; it receives the same and a newer event.
    await stale.processBatch([e2, chat('A', '3')]);
    expect(ids(store.envelopes('A'))).toEqual(['e1', 'e2', 'e3']);
    expect(seqs(store.envelopes('A'))).toEqual(oneToN(store.envelopes('A')));
  });

  test('a failed commit fails the batch, and its retry stores everything exactly once', async () => {
    const { store, make } = setup();
    const p = make();
    const batch = [chat('A', '1'), chat('A', '2')];
    store.failNextCommit = new Error('connection reset');
    await expect(p.processBatch(batch)).rejects.toThrow('connection reset');
    expect(store.envelopes('A')).toEqual([]);
    await p.processBatch(batch);
    expect(ids(store.envelopes('A'))).toEqual(['e1', 'e2']);
    expect(seqs(store.envelopes('A'))).toEqual(oneToN(store.envelopes('A')));
  });

  test('when the hub is down the batch still commits, and missed pushes go out in order before newer ones', async () => {
    const { store, publisher, make } = setup();
    const p = make();
    publisher.failing = true;
    await p.processBatch([chat('A', '1'), chat('A', '2')]);
    expect(ids(store.envelopes('A'))).toEqual(['e1', 'e2']);
    expect(publisher.sends).toHaveLength(0);
    publisher.failing = false;
    await p.processBatch([chat('A', '3')]);
    expect(publisher.delivered('A')).toEqual(store.envelopes('A'));
    expect(ids(publisher.delivered('A'))).toEqual(['e1', 'e2', 'e3']);
  });

  test('a quiet meeting gets its missed pushes on the next tick', async () => {
    const { store, publisher, make } = setup();
    const p = make();
    publisher.failing = true;
    await p.processBatch([chat('A', '1')]);
    publisher.failing = false;
    await p.tick();
    expect(publisher.delivered('A')).toEqual(store.envelopes('A'));
  });

  test('a restarted instance re-pushes what was committed but maybe not pushed, and clients dedupe by seq', async () => {
    const { store, publisher, make } = setup();
    publisher.failing = true;
    await make().processBatch([chat('A', '1')]);
    publisher.failing = false;
    await make().processBatch([chat('A', '2')]);
    expect(unique(publisher.delivered('A'))).toEqual(store.envelopes('A'));
    expect(ids(store.envelopes('A'))).toEqual(['e1', 'e2']);
  });

  test('a poison document is recorded and skipped without blocking the meeting', async () => {
    const { store, make } = setup();
    const first = chat('A', '1');
    const poison = { id: 'bad', type: 'event', meetingId: 'A', _lsn: ++lsn } as unknown as EventDocument;
    const report = await make().processBatch([first, poison, chat('A', '2')]);
    expect(report.poison).toBe(1);
    expect(ids(store.envelopes('A'))).toEqual(['e1', 'e3']);
    const state = (await store.load('A'))!.state;
    expect(state.poison.recent.map((r) => r.id)).toEqual(['bad']);
  });

  test('a large batch is split into several pages, still gapless and in order', async () => {
    const { store, make } = setup({ maxPageBytes: 2000 });
    const batch = Array.from({ length: 30 }, (_, i) => chat('A', 'x'.repeat(200) + i));
    await make().processBatch(batch);
    expect((store.pages.get('A') ?? []).length).toBeGreaterThan(1);
    expect(eventSeqs(store.envelopes('A'))).toEqual(eventSeqs(store.envelopes('A')).map((_, i) => i + 1));
    expect(ids(store.envelopes('A'))).toEqual(batch.map((b) => b.id));
  });
});

describe('failures that retrying cannot fix', () => {
  beforeEach(() => {
    lsn = 0;
  });

  const tooLarge = () => Object.assign(new Error('state commit failed with 413'), { code: 413 });
  const throttled = () => Object.assign(new Error('Request rate is large'), { code: 429 });

  test('a permanent failure fails the batch until the retry limit, then its documents are parked and the feed moves on', async () => {
    const { store, make } = setup();
    const p = make();
    const batch = [chat('A', '1'), chat('A', '2'), chat('B', '3')];
    store.failCommits = tooLarge();
    for (const retryCount of [0, 1, 2]) {
      await expect(p.processBatch(batch, { retryCount })).rejects.toThrow('413');
    }
    expect(store.parked).toEqual([]);
    const report = await p.processBatch(batch, { retryCount: 3 });
    expect(report.parked).toBe(3);
    expect(store.parked.map((r) => [r.meetingId, r.eventIds, r.firstLsn, r.lastLsn, r.retryCount])).toEqual([
      ['A', ['e1', 'e2'], 1, 2, 3],
      ['B', ['e3'], 3, 3, 3],
    ]);
    expect(store.parked[0]!.reason).toContain('413');

    // Once the cause is gone, later events of the same meeting are processed as usual.
    store.failCommits = undefined;
    await p.processBatch([chat('A', '4')]);
    expect(ids(store.envelopes('A'))).toEqual(['e4']);
  });

  test('throttling, timeouts and lost access are never parked, however often they are retried', async () => {
    const { store, make } = setup();
    const p = make();
    const batch = [chat('A', '1')];
    for (const failure of [
      throttled(),
      Object.assign(new Error('timed out'), { name: 'TimeoutError' }),
      Object.assign(new Error('Forbidden'), { code: 403 }),
      Object.assign(new Error('Service Unavailable'), { code: 503 }),
      Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } }),
    ]) {
      store.failCommits = failure;
      await expect(p.processBatch(batch, { retryCount: 50 })).rejects.toBe(failure);
    }
    expect(store.parked).toEqual([]);
    store.failCommits = undefined;
    await p.processBatch(batch, { retryCount: 51 });
    expect(ids(store.envelopes('A'))).toEqual(['e1']);
  });

  test('one meeting failing does not keep the other meetings of the batch from committing', async () => {
    const { store, make } = setup();
    const p = make();
    const original = store.commit.bind(store);
    store.commit = async (meetingId, ...rest) => {
      if (meetingId === 'A') throw tooLarge();
      return original(meetingId, ...rest);
    };
    await expect(p.processBatch([chat('A', '1'), chat('B', '2')])).rejects.toThrow('413');
    expect(ids(store.envelopes('B'))).toEqual(['e2']);
  });
});

describe('failure classification', () => {
  const { classifyFailure } = jest.requireActual<typeof import('../../lib/processing/failures')>(
    '../../lib/processing/failures',
  );
  const withCode = (code: unknown, name = 'Error') => Object.assign(new Error('x'), { code, name });

  test('throttling, timeouts, 5xx, lost access and socket errors are transient', () => {
    for (const err of [
      withCode(429),
      withCode(408),
      withCode(503),
      withCode(500),
      withCode(403),
      withCode(404),
      withCode('ECONNRESET'),
      withCode(undefined, 'TimeoutError'),
    ])
      expect(classifyFailure(err)).toBe('transient');
  });

  test('bad requests, too-large documents and bugs are permanent', () => {
    for (const err of [
      withCode(400),
      withCode(413),
      new TypeError("Cannot read properties of undefined (reading 'x')"),
      'boom',
    ])
      expect(classifyFailure(err)).toBe('permanent');
  });
});

describe('items of one transaction share one LSN', () => {
  beforeEach(() => {
    lsn = 0;
  });

  /** Ten events posted in one request: Cosmos DB gives the whole transactional batch one _lsn. */
  const oneTransaction = (meetingId: string, n: number) => {
    const docs = Array.from({ length: n }, (_, i) => chat(meetingId, `message ${i} ${'x'.repeat(300)}`));
    const shared = docs[0]!._lsn;
    for (const d of docs) d._lsn = shared;
    return docs;
  };

  test('a commit that fails in the middle of a same-LSN group loses none of the group on redelivery', async () => {
    const { store, make } = setup({ maxPageBytes: 1000 }); // a page fills after ~2 events
    const p = make();
    const batch = oneTransaction('A', 10);
    const commit = store.commit.bind(store);
    let commits = 0;
    store.commit = async (...args) => {
      if (++commits === 2)
        throw Object.assign(new Error('injected: connection reset'), { code: 'ECONNRESET' });
      return commit(...args);
    };
    await expect(p.processBatch(batch)).rejects.toThrow('connection reset');
    store.commit = commit;
    await p.processBatch(batch); // the trigger delivers the same page again
    expect(ids(store.envelopes('A'))).toEqual(batch.map((d) => d.id));
    expect(seqs(store.envelopes('A'))).toEqual(oneToN(store.envelopes('A')));
  });

  test('a document without a numeric _lsn fails the batch instead of being taken for a redelivery', async () => {
    const { store, make } = setup();
    const doc = chat('A', 'no lsn') as unknown as Record<string, unknown>;
    delete doc._lsn;
    await expect(make().processBatch([doc])).rejects.toThrow(/_lsn/);
    expect(store.envelopes('A')).toEqual([]);
  });
});

describe('sizes are UTF-8 bytes, as the limits are', () => {
  beforeEach(() => {
    lsn = 0;
  });

  /** A hub that refuses messages over 1 MB, as Web PubSub does. */
  class LimitedPublisher extends MemoryPublisher {
    largest = 0;
    override async publish(meetingId: string, envelopes: Envelope[]): Promise<void> {
      const bytes = Buffer.byteLength(JSON.stringify(envelopes));
      if (bytes > 1024 * 1024) throw Object.assign(new Error('PayloadTooLarge'), { statusCode: 413 });
      this.largest = Math.max(this.largest, bytes);
      return super.publish(meetingId, envelopes);
    }
  }

  test('a batch of long CJK chats reaches every client in sends under 1 MB, and later pushes still go out', async () => {
    const store = new MemoryStateStore<ProcessorState>();
    const publisher = new LimitedPublisher();
    const p = new MeetingProcessor({
      store,
      publisher,
      clock: () => 2_000_000,
      retentionSeconds: 3600,
      log: () => undefined,
    });
    // 100 chats of 4,000 CJK characters: ~1.2 MB of UTF-8 in one feed page.
    const batch = Array.from({ length: 100 }, (_, i) =>
      chat('A', '会'.repeat(3990) + String(i).padStart(10, '0')),
    );
    await p.processBatch(batch);
    await p.processBatch([chat('A', 'after')]);
    expect(ids(publisher.delivered('A'))).toEqual([...batch.map((d) => d.id), `e${lsn}`]);
    expect(publisher.delivered('A')).toEqual(store.envelopes('A'));
    expect(publisher.largest).toBeLessThanOrEqual(900 * 1024);
    for (const page of store.pages.get('A') ?? [])
      expect(Buffer.byteLength(JSON.stringify(page.envelopes))).toBeLessThanOrEqual(600 * 1024);
  });

  test('a message the hub refuses for good is skipped after logging; the meeting’s later pushes are not blocked', async () => {
    const store = new MemoryStateStore<ProcessorState>();
    const publisher = new LimitedPublisher();
    const logs: string[] = [];
    const p = new MeetingProcessor({
      store,
      publisher,
      clock: () => 2_000_000,
      retentionSeconds: 3600,
      log: (m) => logs.push(m),
    });
    const original = publisher.publish.bind(publisher);
    let refused = 0;
    publisher.publish = async (meetingId, envelopes) => {
      if (envelopes.some((e) => e.kind === 'event' && e.id === 'e1')) {
        refused++;
        throw Object.assign(new Error('Bad Request'), { statusCode: 400 });
      }
      return original(meetingId, envelopes);
    };
    await p.processBatch([chat('A', 'refused')]);
    await p.processBatch([chat('A', 'next')]);
    expect(refused).toBe(1);
    expect(ids(publisher.delivered('A'))).toEqual(['e2']);
    expect(logs.join('\n')).toMatch(/skipped|refused/);
  });
});
