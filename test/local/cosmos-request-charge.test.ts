/**
 * The embedded Cosmos DB's estimated request charges as the unmodified `@azure/cosmos` SDK sees
 * them (`requestCharge` on every response), and the per-container totals on `/_embedded/stats`.
 * The model is requestCharge.ts; these check it is wired into every kind of request.
 */
import { ChangeFeedStartFrom, CosmosClient, type Container } from '@azure/cosmos';
import type { CostSnapshot } from '../../local/cosmos/meter';
import { itemBytes } from '../../local/cosmos/requestCharge';
import { type EmbeddedCosmos, startEmbeddedCosmos } from '../../local/cosmos/server';

let cosmos: EmbeddedCosmos;
let client: CosmosClient;
let plain: Container;
let lean: Container;

const KB = 1024;

/** A document whose JSON (as the client sends it) is `bytes` long, with `props` small properties. */
function docOf(id: string, bytes: number, props = 0): Record<string, unknown> {
  const base: Record<string, unknown> = { id, meetingId: 'm', pad: '' };
  for (let i = 0; i < props; i += 1) base[`p${i}`] = i;
  return { ...base, pad: 'p'.repeat(bytes - itemBytes(base)) };
}

async function stats(): Promise<CostSnapshot> {
  const res = await fetch(new URL('/_embedded/stats', cosmos.endpoint));
  expect(res.status).toBe(200);
  return (await res.json()) as CostSnapshot;
}

beforeAll(async () => {
  cosmos = await startEmbeddedCosmos({ port: 0 });
  client = new CosmosClient({ endpoint: cosmos.endpoint, key: cosmos.key });
  const { database } = await client.databases.createIfNotExists({ id: 'ru' });
  ({ container: plain } = await database.containers.createIfNotExists({
    id: 'plain',
    partitionKey: '/meetingId',
  }));
  ({ container: lean } = await database.containers.createIfNotExists({
    id: 'lean',
    partitionKey: '/meetingId',
    indexingPolicy: {
      indexingMode: 'consistent',
      includedPaths: [{ path: '/meetingId/?' }],
      excludedPaths: [{ path: '/*' }],
    },
  }));
});

afterAll(async () => {
  client.dispose();
  await cosmos.close();
});

test('a point read of a 1 KB item costs ~1 RU, a 64 KB one more; the header is what the SDK reports', async () => {
  await plain.items.create(docOf('small', KB));
  await plain.items.create(docOf('big', 64 * KB));
  const small = await plain.item('small', 'm').read();
  expect(small.requestCharge).toBeGreaterThanOrEqual(1);
  expect(small.requestCharge).toBeLessThan(1.05);
  expect(Number(small.headers['x-ms-request-charge'])).toBe(small.requestCharge);
  const big = await plain.item('big', 'm').read();
  expect(big.requestCharge).toBeGreaterThan(4);
  expect(big.requestCharge).toBeGreaterThan(small.requestCharge);
  const missing = await plain.item('nope', 'm').read();
  expect(missing.statusCode).toBe(404);
  expect(missing.requestCharge).toBe(1);
});

test('writes: ~5 RU + 0.2 per indexed term at 1 KB; bigger items and more terms cost more; excluded paths cost less', async () => {
  const c1 = await plain.items.create(docOf('w1', KB));
  // id, meetingId and pad are the indexed terms under the default policy.
  expect(c1.requestCharge).toBeGreaterThan(4.95 + 3 * 0.2 - 0.01);
  expect(c1.requestCharge).toBeLessThan(6);
  const c8 = await plain.items.create(docOf('w8', 8 * KB));
  expect(c8.requestCharge).toBeGreaterThan(c1.requestCharge + 1);
  const terms = await plain.items.create(docOf('w40', KB, 40));
  expect(terms.requestCharge - c1.requestCharge).toBeCloseTo(40 * 0.2, 1);
  const leanTerms = await lean.items.create(docOf('w40', KB, 40));
  expect(leanTerms.requestCharge).toBeLessThan(terms.requestCharge - 7);
});

test('replace costs about twice a create, patch a little more, delete about a create', async () => {
  const created = await plain.items.create(docOf('r', KB, 5));
  const replaced = await plain.item('r', 'm').replace({ ...docOf('r', KB, 5), p0: 100, p1: 101 });
  expect(replaced.requestCharge).toBeGreaterThan(2 * 4.95);
  expect(replaced.requestCharge).toBeLessThan(created.requestCharge * 2);
  const patched = await plain.item('r', 'm').patch([
    { op: 'set', path: '/p0', value: 200 },
    { op: 'set', path: '/p1', value: 201 },
  ]);
  expect(patched.requestCharge).toBeCloseTo(replaced.requestCharge + 2 * 0.4, 1);
  const upserted = await plain.items.upsert({ ...docOf('r', KB, 5), p0: 300, p1: 301 });
  expect(upserted.requestCharge).toBeCloseTo(replaced.requestCharge, 1);
  const deleted = await plain.item('r', 'm').delete();
  expect(deleted.requestCharge).toBeCloseTo(created.requestCharge, 1);
  const conflict = await plain.items
    .create(docOf('w1', KB))
    .catch((e: { code: number; headers: object }) => e);
  expect(conflict).toMatchObject({ code: 409 });
});

test('queries: a base per page plus results; change feed one point read per item, empty pages 1 RU', async () => {
  const c = lean;
  for (let i = 0; i < 5; i += 1) await c.items.create({ ...docOf(`q${i}`, KB), meetingId: 'q' });
  const all = await c.items.query('SELECT * FROM c', { partitionKey: 'q' }).fetchAll();
  expect(all.resources).toHaveLength(5);
  expect(all.requestCharge).toBeGreaterThan(2.5 + 5);
  expect(all.requestCharge).toBeLessThan(2.5 + 5 * 1.1);
  const count = await c.items.query('SELECT VALUE COUNT(1) FROM c', { partitionKey: 'q' }).fetchAll();
  expect(count.resources).toEqual([5]);
  expect(count.requestCharge).toBeLessThan(all.requestCharge);

  const it = c.items.getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning('q') });
  const page = await it.readNext();
  expect(page.result).toHaveLength(5);
  // The SDK's change-feed response truncates the header with parseInt (4.9.1), so read the header.
  const feedCharge = Number(page.headers['x-ms-request-charge']);
  expect(page.requestCharge).toBe(Math.trunc(feedCharge));
  expect(feedCharge).toBeGreaterThan(5);
  expect(feedCharge).toBeLessThan(5.5);
  const emptyBefore = (await stats()).containers['ru/lean']?.emptyChangeFeedPages.requests ?? 0;
  const empty = await it.readNext();
  expect(empty.statusCode).toBe(304);
  expect(empty.requestCharge).toBe(1);
  // Empty polls are counted apart (their cost follows the poll delay, not the events).
  expect((await stats()).containers['ru/lean']?.emptyChangeFeedPages.requests).toBe(emptyBefore + 1);
});

test('a transactional batch costs the sum of its operations, as the same operations one by one', async () => {
  const single = await plain.items.create({ ...docOf('b0', 2 * KB), meetingId: 'b' });
  const res = await plain.items.batch(
    [
      { operationType: 'Create', resourceBody: { ...docOf('b1', 2 * KB), meetingId: 'b' } },
      { operationType: 'Create', resourceBody: { ...docOf('b2', 2 * KB), meetingId: 'b' } },
      { operationType: 'Read', id: 'b0' },
    ],
    'b',
  );
  const ops = res.result ?? [];
  expect(ops.map((o) => o.statusCode)).toEqual([201, 201, 200]);
  const sum = ops.reduce((s, o) => s + o.requestCharge, 0);
  expect(res.headers['x-ms-request-charge']).toBe(String(Math.round(sum * 100) / 100));
  expect(ops[0]?.requestCharge).toBeCloseTo(single.requestCharge, 1);
  expect(ops[2]?.requestCharge).toBeGreaterThanOrEqual(1);
  expect(ops[2]?.requestCharge).toBeLessThan(1.1);
  // A failed batch writes nothing, so its attempted writes add no bytes.
  const before = (await stats()).containers['ru/plain']?.bytesWritten;
  const failed = await plain.items.batch(
    [
      { operationType: 'Create', resourceBody: { ...docOf('b3', 2 * KB), meetingId: 'b' } },
      { operationType: 'Create', resourceBody: { ...docOf('b1', 2 * KB), meetingId: 'b' } },
    ],
    'b',
  );
  expect(failed.result?.map((o) => o.statusCode)).toEqual([424, 409]);
  expect((await stats()).containers['ru/plain']?.bytesWritten).toBe(before);
});

test('stats: RU and bytes written per container, matching what the SDK was told; reset zeroes them', async () => {
  expect((await fetch(new URL('/_embedded/stats', cosmos.endpoint), { method: 'DELETE' })).status).toBe(200);
  const docs = [docOf('s1', KB), docOf('s2', 3 * KB), docOf('s3', 10 * KB)];
  let charged = 0;
  let bytes = 0;
  for (const d of docs) {
    const r = await lean.items.create(d);
    charged += r.requestCharge;
    bytes += itemBytes(r.resource);
  }
  await lean.item('s1', 'm').read();
  const snap = await stats();
  expect(snap.estimate).toBe(true);
  const t = snap.containers['ru/lean'];
  expect(t?.byOperation.create?.requests).toBe(3);
  expect(t?.byOperation.create?.requestCharge).toBeCloseTo(charged, 2);
  expect(t?.bytesWritten).toBe(bytes);
  expect(t?.itemsWritten).toBe(3);
  expect(t?.byOperation.read?.requests).toBe(1);
  expect(snap.containers['ru/plain']).toBeUndefined();
  expect(cosmos.stats().containers['ru/lean']?.requestCharge).toBe(t?.requestCharge);
});
