/**
 * The embedded Cosmos DB's incremental (latest-version) change feed, read with the SDK's
 * `getChangeFeedIterator` exactly as the functions runner reads it.
 */
import {
  ChangeFeedStartFrom,
  type ChangeFeedPullModelIterator,
  type Container,
  CosmosClient,
  type Database,
  StatusCodes,
} from '@azure/cosmos';
import { type EmbeddedCosmos, startEmbeddedCosmos } from '../../local/cosmos/server';

interface FeedDoc {
  id: string;
  meetingId: string;
  n?: number;
  _lsn: number;
  _ts: number;
  _etag: string;
  _rid: string;
  _self: string;
}

let cosmos: EmbeddedCosmos;
let client: CosmosClient;
let db: Database;
let n = 0;

async function newContainer(): Promise<Container> {
  n += 1;
  const { container } = await db.containers.createIfNotExists({
    id: `feed${n}`,
    partitionKey: { paths: ['/meetingId'] },
  });
  return container;
}

/** Reads pages until the feed reports 304 (caught up). */
async function drain(
  it: ChangeFeedPullModelIterator<FeedDoc>,
): Promise<{ docs: FeedDoc[]; token: string; pages: number }> {
  const docs: FeedDoc[] = [];
  let pages = 0;
  for (;;) {
    const page = await it.readNext();
    if (page.statusCode === StatusCodes.NotModified) return { docs, token: page.continuationToken, pages };
    expect(page.statusCode).toBe(200);
    docs.push(...page.result);
    pages += 1;
  }
}

const ids = (docs: { id: string }[]): string[] => docs.map((d) => d.id);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  cosmos = await startEmbeddedCosmos();
  client = new CosmosClient({ endpoint: cosmos.endpoint, key: cosmos.key });
  ({ database: db } = await client.databases.createIfNotExists({ id: 'feeds' }));
});

afterAll(async () => {
  client.dispose();
  await cosmos.close();
});

test('reading from the beginning returns every item once in write order, then 304 until something changes', async () => {
  const c = await newContainer();
  for (const id of ['a', 'b', 'c']) await c.items.create({ id, meetingId: 'm1' });
  const it = c.items.getChangeFeedIterator<FeedDoc>({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning() });
  const first = await drain(it);
  expect(ids(first.docs)).toEqual(['a', 'b', 'c']);
  const again = await it.readNext();
  expect(again.statusCode).toBe(304);
  expect(again.result).toEqual([]);
  await c.items.create({ id: 'd', meetingId: 'm2' });
  expect(ids((await drain(it)).docs)).toEqual(['d']);
});

test('the iterator always has more results (the feed is infinite)', async () => {
  const c = await newContainer();
  const it = c.items.getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning() });
  expect(it.hasMoreResults).toBe(true);
  expect((await it.readNext()).statusCode).toBe(304);
  expect(it.hasMoreResults).toBe(true);
});

test('documents in the feed carry _lsn, _ts, _etag, _rid and _self, and _lsn increases', async () => {
  const c = await newContainer();
  await c.items.create({ id: 'a', meetingId: 'm1' });
  await c.items.create({ id: 'b', meetingId: 'm1' });
  const { docs } = await drain(
    c.items.getChangeFeedIterator<FeedDoc>({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning() }),
  );
  for (const d of docs) {
    expect(typeof d._lsn).toBe('number');
    expect(typeof d._ts).toBe('number');
    expect(typeof d._etag).toBe('string');
    expect(typeof d._rid).toBe('string');
    expect(typeof d._self).toBe('string');
  }
  expect((docs[1] as FeedDoc)._lsn).toBeGreaterThan((docs[0] as FeedDoc)._lsn);
});

test('starting from now skips existing items and returns only later writes', async () => {
  const c = await newContainer();
  await c.items.create({ id: 'old', meetingId: 'm1' });
  const it = c.items.getChangeFeedIterator<FeedDoc>({ changeFeedStartFrom: ChangeFeedStartFrom.Now() });
  expect((await it.readNext()).statusCode).toBe(304);
  await c.items.create({ id: 'new', meetingId: 'm1' });
  await c.items.upsert({ id: 'old', meetingId: 'm1', n: 2 });
  expect(ids((await drain(it)).docs)).toEqual(['new', 'old']);
});

test('starting from a time returns only items written at or after that time', async () => {
  const c = await newContainer();
  await c.items.create({ id: 'before', meetingId: 'm1' });
  await sleep(1100); // the SDK sends the start time with one-second precision
  const start = new Date();
  await c.items.create({ id: 'after', meetingId: 'm1' });
  const { docs } = await drain(
    c.items.getChangeFeedIterator<FeedDoc>({ changeFeedStartFrom: ChangeFeedStartFrom.Time(start) }),
  );
  expect(ids(docs)).toEqual(['after']);
});

test('when an item is updated three times after a continuation, the change feed returns only its latest version once', async () => {
  const c = await newContainer();
  await c.items.create({ id: 'a', meetingId: 'm1', n: 0 });
  await c.items.create({ id: 'b', meetingId: 'm1', n: 0 });
  const it = c.items.getChangeFeedIterator<FeedDoc>({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning() });
  await drain(it);
  for (let v = 1; v <= 3; v += 1) await c.items.upsert({ id: 'a', meetingId: 'm1', n: v });
  const { docs } = await drain(it);
  expect(docs.map((d) => [d.id, d.n])).toEqual([['a', 3]]);
});

test('items are ordered by their latest write: an item updated after others moves behind them', async () => {
  const c = await newContainer();
  for (const id of ['a', 'b', 'c']) await c.items.create({ id, meetingId: 'm1' });
  await c.items.upsert({ id: 'a', meetingId: 'm1', n: 1 });
  const { docs } = await drain(
    c.items.getChangeFeedIterator<FeedDoc>({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning() }),
  );
  expect(ids(docs)).toEqual(['b', 'c', 'a']);
  expect(docs.map((d) => d._lsn)).toEqual([...docs.map((d) => d._lsn)].sort((x, y) => x - y));
});

test('deleted items are not in the feed', async () => {
  const c = await newContainer();
  await c.items.create({ id: 'a', meetingId: 'm1' });
  await c.items.create({ id: 'b', meetingId: 'm1' });
  await c.item('a', 'm1').delete();
  const it = c.items.getChangeFeedIterator<FeedDoc>({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning() });
  expect(ids((await drain(it)).docs)).toEqual(['b']);
  await c.item('b', 'm1').delete();
  expect((await it.readNext()).statusCode).toBe(304);
});

test('maxItemCount pages the feed, and a continuation token saved mid-way resumes in a new iterator with no loss or duplicates', async () => {
  const c = await newContainer();
  for (let i = 0; i < 25; i += 1) await c.items.create({ id: `e${i}`, meetingId: `m${i % 4}` });
  const first = c.items.getChangeFeedIterator<FeedDoc>({
    changeFeedStartFrom: ChangeFeedStartFrom.Beginning(),
    maxItemCount: 10,
  });
  const page1 = await first.readNext();
  expect(page1.result).toHaveLength(10);
  const saved = page1.continuationToken;

  const second = c.items.getChangeFeedIterator<FeedDoc>({
    changeFeedStartFrom: ChangeFeedStartFrom.Continuation(saved),
    maxItemCount: 10,
  });
  const rest = await drain(second);
  expect(rest.pages).toBe(2);
  const all = [...ids(page1.result), ...ids(rest.docs)];
  expect(all).toEqual(Array.from({ length: 25 }, (_, i) => `e${i}`));

  // The token of the caught-up iterator resumes exactly after the last item, too.
  await c.items.create({ id: 'late', meetingId: 'm1' });
  const third = c.items.getChangeFeedIterator<FeedDoc>({
    changeFeedStartFrom: ChangeFeedStartFrom.Continuation(rest.token),
  });
  expect(ids((await drain(third)).docs)).toEqual(['late']);
});

test('a change feed scoped to a partition key returns only that partition, and its continuation resumes there', async () => {
  const c = await newContainer();
  for (let i = 0; i < 9; i += 1) await c.items.create({ id: `e${i}`, meetingId: `m${i % 3}` });
  const it = c.items.getChangeFeedIterator<FeedDoc>({
    changeFeedStartFrom: ChangeFeedStartFrom.Beginning('m1'),
  });
  const first = await drain(it);
  expect(ids(first.docs)).toEqual(['e1', 'e4', 'e7']);
  await c.items.create({ id: 'x0', meetingId: 'm0' });
  await c.items.create({ id: 'x1', meetingId: 'm1' });
  const resumed = c.items.getChangeFeedIterator<FeedDoc>({
    changeFeedStartFrom: ChangeFeedStartFrom.Continuation(first.token),
  });
  expect(ids((await drain(resumed)).docs)).toEqual(['x1']);
});

test('a transactional batch’s writes share one LSN in the feed, in batch order; a failed batch leaves no trace', async () => {
  const c = await newContainer();
  await c.items.create({ id: 'before', meetingId: 'm1' });
  const it = c.items.getChangeFeedIterator<FeedDoc>({ changeFeedStartFrom: ChangeFeedStartFrom.Now() });
  await it.readNext();
  const failed = await c.items.batch(
    [
      { operationType: 'Create', resourceBody: { id: 'x', meetingId: 'm1' } },
      { operationType: 'Create', resourceBody: { id: 'before', meetingId: 'm1' } },
    ],
    'm1',
  );
  expect(failed.code).toBe(207);
  expect((await it.readNext()).statusCode).toBe(304);
  await c.items.create({ id: 'single', meetingId: 'm1' });
  await c.items.batch(
    [
      { operationType: 'Create', resourceBody: { id: 'b1', meetingId: 'm1' } },
      { operationType: 'Create', resourceBody: { id: 'b2', meetingId: 'm1' } },
      { operationType: 'Upsert', resourceBody: { id: 'b3', meetingId: 'm1' } },
    ],
    'm1',
  );
  const { docs } = await drain(it);
  expect(ids(docs)).toEqual(['single', 'b1', 'b2', 'b3']);
  const lsns = docs.map((d) => d._lsn);
  // The rolled-back batch consumed no LSN; the committed one has a single LSN, as in Cosmos DB.
  const batchLsn = (lsns[0] as number) + 1;
  expect(lsns).toEqual([lsns[0], batchLsn, batchLsn, batchLsn]);
});

test('a change-feed page never splits a transaction: it grows past maxItemCount to keep one whole', async () => {
  const c = await newContainer();
  const it = c.items.getChangeFeedIterator<FeedDoc>({
    changeFeedStartFrom: ChangeFeedStartFrom.Now(),
    maxItemCount: 2,
  });
  await it.readNext();
  await c.items.create({ id: 'first', meetingId: 'm1' });
  await c.items.batch(
    ['t1', 't2', 't3', 't4'].map((id) => ({
      operationType: 'Create' as const,
      resourceBody: { id, meetingId: 'm1' },
    })),
    'm1',
  );
  await c.items.create({ id: 'last', meetingId: 'm1' });
  const pages: string[][] = [];
  for (;;) {
    const page = await it.readNext();
    if (page.statusCode === 304 || page.result.length === 0) break;
    pages.push(ids(page.result));
  }
  expect(pages).toEqual([['first', 't1', 't2', 't3', 't4'], ['last']]);
});

test('a reader following continuations while 8 writers create items concurrently sees every item exactly once', async () => {
  const c = await newContainer();
  const total = 400;
  let next = 0;
  let writing = true;
  const writers = Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < total) {
        const i = next++;
        await c.items.create({ id: `w${i}`, meetingId: `m${i % 5}` });
      }
    }),
  ).finally(() => {
    writing = false;
  });
  const seen: string[] = [];
  let token: string | undefined;
  while (writing || seen.length < total) {
    // A fresh iterator from the saved token each time, as a restarted consumer would.
    const it = c.items.getChangeFeedIterator<FeedDoc>({
      changeFeedStartFrom: token ? ChangeFeedStartFrom.Continuation(token) : ChangeFeedStartFrom.Beginning(),
      maxItemCount: 37,
    });
    const page = await it.readNext();
    token = page.continuationToken;
    seen.push(...ids(page.result));
    if (!writing && page.statusCode === 304) break;
  }
  await writers;
  expect(seen).toHaveLength(total);
  expect(new Set(seen).size).toBe(total);
});

test('a continuation token from another container is rejected by the SDK', async () => {
  const a = await newContainer();
  const b = await newContainer();
  await a.items.create({ id: 'x', meetingId: 'm1' });
  const { token } = await drain(
    a.items.getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning() }),
  );
  const wrong = b.items.getChangeFeedIterator({
    changeFeedStartFrom: ChangeFeedStartFrom.Continuation(token),
  });
  await expect(wrong.readNext()).rejects.toThrow(/continuation token is not for the current container/);
});
