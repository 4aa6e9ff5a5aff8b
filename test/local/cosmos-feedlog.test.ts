/**
 * The embedded Cosmos DB's change-feed log keeps no superseded versions: an item replaced many
 * times (the processor's state document, every commit) holds one slot, not one per version.
 */
import { FeedLog } from '../../local/cosmos/feed';
import type { CosmosDoc } from '../../local/cosmos/patches';

function harness() {
  const current = new Map<string, CosmosDoc>();
  const log = new FeedLog((doc) => current.get(doc._rid) === doc);
  let lsn = 0;
  const put = (rid: string, body: Record<string, unknown> = {}) => {
    const prev = current.get(rid);
    const doc = {
      id: rid,
      _rid: rid,
      _etag: `"${lsn + 1}"`,
      _ts: 0,
      _lsn: ++lsn,
      ...body,
    } as unknown as CosmosDoc;
    current.set(rid, doc);
    if (prev) log.superseded(prev);
    log.push(doc);
    return doc;
  };
  const retained = () =>
    (log as unknown as { docs: Array<CosmosDoc | undefined> }).docs.filter(Boolean).length;
  return { log, put, retained, current };
}

test('replacing one item thousands of times among many live items retains only current versions', () => {
  const h = harness();
  for (let i = 0; i < 2000; i++) {
    h.put(`page${i}`);
    h.put('state', { big: 'x'.repeat(100), n: i });
  }
  expect(h.retained()).toBe(2001);
  const { docs } = h.log.read(0, 10_000, () => true, 4000);
  expect(docs).toHaveLength(2001);
  expect(docs[docs.length - 1]).toMatchObject({ id: 'state', n: 1999 });
  const lsns = docs.map((d) => d._lsn ?? 0);
  expect(lsns).toEqual([...lsns].sort((a, b) => a - b));
});

test('reading from an LSN still skips superseded versions and continues after compaction', () => {
  const h = harness();
  for (let i = 0; i < 3000; i++) h.put(`d${i % 10}`, { n: i });
  const { docs, next } = h.log.read(0, 100, () => true, 3000);
  expect(docs.map((d) => d.id).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `d${i}`).sort());
  expect(next).toBe(3000);
  expect(h.retained()).toBe(10);
  h.put('d3', { n: 'last' });
  expect(h.log.read(3000, 100, () => true, 3001).docs).toEqual([h.current.get('d3')]);
});
