/**
 * The embedded Cosmos DB as the unmodified @azure/cosmos SDK sees it: resources, items, queries,
 * transactional batch and TTL. (Change feed and persistence have their own files.)
 */
import {
  ChangeFeedStartFrom,
  type Container,
  CosmosClient,
  type Database,
  type OperationInput,
  BulkOperationType,
  PartitionKeyKind,
} from '@azure/cosmos';
import { typeFilterOf } from '../../local/cosmos/handlers';
import { type EmbeddedCosmos, EMBEDDED_COSMOS_KEY, startEmbeddedCosmos } from '../../local/cosmos/server';

let cosmos: EmbeddedCosmos;
let client: CosmosClient;
let db: Database;
let n = 0;

async function newContainer(opts: { pk?: string; defaultTtl?: number } = {}): Promise<Container> {
  n += 1;
  const { container } = await db.containers.createIfNotExists({
    id: `c${n}`,
    partitionKey: { paths: [opts.pk ?? '/meetingId'] },
    defaultTtl: opts.defaultTtl,
  });
  return container;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  cosmos = await startEmbeddedCosmos({ port: 0 });
  client = new CosmosClient({ endpoint: cosmos.endpoint, key: cosmos.key });
  ({ database: db } = await client.databases.createIfNotExists({ id: 'meetstream' }));
});

afterAll(async () => {
  client.dispose();
  await cosmos.close();
});

describe('server basics', () => {
  test('it listens on an ephemeral loopback port with the emulator key and a plain-http endpoint', () => {
    expect(cosmos.port).toBeGreaterThan(0);
    expect(cosmos.endpoint).toBe(`http://127.0.0.1:${cosmos.port}/`);
    expect(cosmos.key).toBe(EMBEDDED_COSMOS_KEY);
  });

  test('createIfNotExists creates a database and a container once and returns the same ones afterwards', async () => {
    const first = await client.databases.createIfNotExists({ id: 'once' });
    const again = await client.databases.createIfNotExists({ id: 'once' });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(200);
    expect(again.resource?._rid).toBe(first.resource?._rid);
    const c1 = await first.database.containers.createIfNotExists({
      id: 'x',
      partitionKey: { paths: ['/meetingId'] },
    });
    const c2 = await first.database.containers.createIfNotExists({
      id: 'x',
      partitionKey: { paths: ['/meetingId'] },
    });
    expect(c1.statusCode).toBe(201);
    expect(c2.statusCode).toBe(200);
    expect(c2.resource?.partitionKey?.paths).toEqual(['/meetingId']);
  });

  test('an item request for a container that does not exist answers 404, not a server error', async () => {
    const missing = db.container('nope');
    await expect(missing.items.create({ id: 'a', meetingId: 'm' })).rejects.toMatchObject({ code: 404 });
    await expect(missing.item('a', 'm').delete()).rejects.toMatchObject({ code: 404 });
  });
});

describe('items', () => {
  test('items can be created, read, replaced, upserted, patched and deleted', async () => {
    const c = await newContainer();
    const created = await c.items.create({ id: 'a', meetingId: 'm1', type: 'event', n: 1 });
    expect(created.statusCode).toBe(201);
    const read = await c.item('a', 'm1').read();
    expect(read.resource).toMatchObject({ id: 'a', meetingId: 'm1', n: 1 });
    expect(typeof read.resource?._etag).toBe('string');

    const replaced = await c.item('a', 'm1').replace({ id: 'a', meetingId: 'm1', type: 'event', n: 2 });
    expect(replaced.resource?.n).toBe(2);
    expect(replaced.resource?._etag).not.toBe(read.resource?._etag);

    const upsertNew = await c.items.upsert({ id: 'b', meetingId: 'm1', n: 10 });
    const upsertOld = await c.items.upsert({ id: 'b', meetingId: 'm1', n: 11 });
    expect([upsertNew.statusCode, upsertOld.statusCode]).toEqual([201, 200]);

    const patched = await c.item('a', 'm1').patch([
      { op: 'incr', path: '/n', value: 5 },
      { op: 'set', path: '/tag', value: 'x' },
    ]);
    expect(patched.resource).toMatchObject({ n: 7, tag: 'x' });

    const deleted = await c.item('a', 'm1').delete();
    expect(deleted.statusCode).toBe(204);
    const gone = await c.item('a', 'm1').read();
    expect(gone.statusCode).toBe(404);
    expect(gone.resource).toBeUndefined();
  });

  test('an item larger than the 2 MB request limit is rejected with 413 and not stored', async () => {
    const c = await newContainer();
    const big = 'x'.repeat(2 * 1024 * 1024 + 10);
    await expect(c.items.create({ id: 'big', meetingId: 'm1', big })).rejects.toMatchObject({ code: 413 });
    expect((await c.item('big', 'm1').read()).statusCode).toBe(404);
  });

  test('a point read only finds an item in its own partition', async () => {
    const c = await newContainer();
    await c.items.create({ id: 'a', meetingId: 'm1' });
    expect((await c.item('a', 'm1').read()).statusCode).toBe(200);
    expect((await c.item('a', 'm2').read()).statusCode).toBe(404);
  });

  test('a replace or delete with a stale If-Match etag fails with 412 and changes nothing', async () => {
    const c = await newContainer();
    const { resource: v1 } = await c.items.create({ id: 'a', meetingId: 'm1', n: 1 });
    await c.item('a', 'm1').replace({ id: 'a', meetingId: 'm1', n: 2 });
    const stale = { accessCondition: { type: 'IfMatch', condition: v1?._etag ?? '' } };
    await expect(c.item('a', 'm1').replace({ id: 'a', meetingId: 'm1', n: 3 }, stale)).rejects.toMatchObject({
      code: 412,
    });
    await expect(c.item('a', 'm1').delete(stale)).rejects.toMatchObject({ code: 412 });
    expect((await c.item('a', 'm1').read()).resource?.n).toBe(2);
  });

  test('creating an id that exists in the partition fails with 409; the same id in another partition is fine', async () => {
    const c = await newContainer();
    await c.items.create({ id: 'a', meetingId: 'm1' });
    await expect(c.items.create({ id: 'a', meetingId: 'm1' })).rejects.toMatchObject({ code: 409 });
    expect((await c.items.create({ id: 'a', meetingId: 'm2' })).statusCode).toBe(201);
  });

  test('a container partitioned by /id (lease container) supports create, conditional replace and query', async () => {
    const c = await newContainer({ pk: '/id' });
    const { resource: lease } = await c.items.create({ id: 'lease-0', owner: 'a', token: '"1"' });
    const ok = await c
      .item('lease-0', 'lease-0')
      .replace(
        { id: 'lease-0', owner: 'b' },
        { accessCondition: { type: 'IfMatch', condition: lease?._etag ?? '' } },
      );
    expect(ok.resource?.owner).toBe('b');
    await expect(
      c
        .item('lease-0', 'lease-0')
        .replace(
          { id: 'lease-0', owner: 'c' },
          { accessCondition: { type: 'IfMatch', condition: lease?._etag ?? '' } },
        ),
    ).rejects.toMatchObject({ code: 412 });
    const { resources } = await c.items.query('SELECT * FROM c WHERE c.owner = "b"').fetchAll();
    expect(resources.map((r: { id: string }) => r.id)).toEqual(['lease-0']);
  });

  test('replacing a container (e.g. to change its TTL) keeps its items', async () => {
    const c = await newContainer();
    await c.items.create({ id: 'a', meetingId: 'm1' });
    const { resource: def } = await c.read();
    if (!def) throw new Error('container definition missing');
    const replaced = await c.replace({ ...def, defaultTtl: 3600 });
    expect(replaced.resource?.defaultTtl).toBe(3600);
    expect((await c.item('a', 'm1').read()).statusCode).toBe(200);
  });
});

describe('queries', () => {
  let c: Container;

  beforeAll(async () => {
    c = await newContainer();
    for (let i = 0; i < 30; i += 1) {
      await c.items.create({ id: `e${i}`, meetingId: `m${i % 3}`, type: i % 2 ? 'event' : 'state', n: i });
    }
  });

  test('a query with the partitionKey option returns only that partition’s items', async () => {
    const { resources } = await c.items.query('SELECT * FROM c', { partitionKey: 'm1' }).fetchAll();
    expect(resources).toHaveLength(10);
    expect(new Set(resources.map((r: { meetingId: string }) => r.meetingId))).toEqual(new Set(['m1']));
  });

  test('the partition scope applies even when the query itself does not filter on it', async () => {
    const { resources } = await c.items
      .query(
        {
          query: 'SELECT VALUE COUNT(1) FROM c WHERE c.type = @t',
          parameters: [{ name: '@t', value: 'event' }],
        },
        {
          partitionKey: 'm0',
        },
      )
      .fetchAll();
    expect(resources).toEqual([5]);
  });

  test('a cross-partition query returns matching items from every partition, ordered as asked', async () => {
    const { resources } = await c.items
      .query({
        query: 'SELECT c.id, c.n FROM c WHERE c.type = @t ORDER BY c.n DESC',
        parameters: [{ name: '@t', value: 'event' }],
      })
      .fetchAll();
    expect(resources.map((r: { n: number }) => r.n)).toEqual([
      29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1,
    ]);
  });

  test('paging with maxItemCount and continuation tokens returns every item exactly once', async () => {
    const seen: string[] = [];
    let continuationToken: string | undefined;
    let pages = 0;
    do {
      const page = await c.items
        .query('SELECT * FROM c ORDER BY c.n', { partitionKey: 'm2', maxItemCount: 3, continuationToken })
        .fetchNext();
      seen.push(...page.resources.map((r: { id: string }) => r.id));
      continuationToken = page.continuationToken;
      pages += 1;
    } while (continuationToken);
    expect(pages).toBe(4);
    expect(seen).toEqual(['e2', 'e5', 'e8', 'e11', 'e14', 'e17', 'e20', 'e23', 'e26', 'e29']);
  });

  test('only a plain conjunction with c.type = … narrows a partition query to that type', () => {
    const p = [
      { name: '@t', value: 'poll' },
      { name: '@n', value: 3 },
    ];
    expect(
      typeFilterOf(
        "SELECT TOP @n * FROM c WHERE c.meetingId = @m AND c.type = 'participant' AND c.id > @after ORDER BY c.id",
      ),
    ).toBe('participant');
    expect(typeFilterOf("SELECT VALUE c.status FROM c WHERE (c.type = 'poll') AND c.x = 1")).toBeUndefined();
    expect(typeFilterOf('SELECT * FROM c WHERE c.a = 1 AND c.type = @t', p)).toBe('poll');
    expect(typeFilterOf('SELECT * FROM c WHERE c.type = @n', p)).toBeUndefined();
    for (const q of [
      "SELECT * FROM c WHERE c.type = 'a' OR c.type = 'b'",
      "SELECT * FROM c WHERE NOT (c.type = 'a')",
      "SELECT * FROM c WHERE c.type = 'a' ?? true",
      "SELECT * FROM c WHERE EXISTS(SELECT VALUE t FROM t IN c.tags WHERE t = 'x') AND c.type = 'a'",
      "SELECT * FROM c JOIN t IN c.tags WHERE c.type = 'a'",
      "SELECT * FROM c WHERE c.type = 'it''s'",
      "SELECT * FROM c WHERE c.type = 'a\\'' AND c.b = 'x'",
      "SELECT * FROM c WHERE c.n BETWEEN 1 AND 2 AND c.type = 'a'",
      "SELECT * FROM c WHERE c['type'] = 'a'",
      'SELECT * FROM c WHERE c.type = "a"',
      "SELECT * FROM c WHERE c.type != 'a'",
      "SELECT * FROM c WHERE c.type = 'a' -- comment",
      'SELECT * FROM c',
    ])
      expect([q, typeFilterOf(q)]).toEqual([q, undefined]);
  });

  test('a query narrowed by type (in a partition or across them) sees type changes, deletes and batch writes at once', async () => {
    const k = await newContainer();
    const ids = (r: { resources: Array<{ id: string }> }) => r.resources.map((x) => x.id).sort();
    const q = () =>
      k.items
        .query("SELECT * FROM c WHERE c.type = 'participant' ORDER BY c.id", { partitionKey: 'm' })
        .fetchAll();
    for (let i = 0; i < 5; i++) await k.items.create({ id: `p${i}`, meetingId: 'm', type: 'participant' });
    for (let i = 0; i < 50; i++) await k.items.create({ id: `page${i}`, meetingId: 'm', type: 'page' });
    await k.items.create({ id: 'other', meetingId: 'n', type: 'participant' });
    expect(ids(await q())).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
    await k.item('p1', 'm').replace({ id: 'p1', meetingId: 'm', type: 'former' });
    await k.item('p2', 'm').delete();
    await k.item('page0', 'm').replace({ id: 'page0', meetingId: 'm', type: 'participant' });
    await k.items.batch(
      [
        { operationType: 'Create', resourceBody: { id: 'p5', meetingId: 'm', type: 'participant' } },
        { operationType: 'Delete', id: 'p3' },
      ],
      'm',
    );
    expect(ids(await q())).toEqual(['p0', 'p4', 'p5', 'page0']);
    const failed = await k.items.batch(
      [
        { operationType: 'Create', resourceBody: { id: 'p6', meetingId: 'm', type: 'participant' } },
        { operationType: 'Create', resourceBody: { id: 'p0', meetingId: 'm', type: 'participant' } },
      ],
      'm',
    );
    expect(failed.result?.[1]?.statusCode).toBe(409);
    expect(ids(await q())).toEqual(['p0', 'p4', 'p5', 'page0']);
    // Cross-partition, the same index: every partition's items of that type, nothing else.
    const all = await k.items.query("SELECT * FROM c WHERE c.type = 'participant'").fetchAll();
    expect(ids(all)).toEqual(['other', 'p0', 'p4', 'p5', 'page0']);
  });

  test('a query-plan request is answered with a plan, not with query results', async () => {
    const res = await c.getQueryPlan('SELECT * FROM c WHERE c.n > 3 ORDER BY c.n');
    const plan = res.result as { queryRanges?: unknown[]; queryInfo?: unknown; Documents?: unknown };
    expect(plan.Documents).toBeUndefined();
    expect(plan.queryRanges).toEqual([{ min: '', max: 'FF', isMinInclusive: true, isMaxInclusive: false }]);
    expect(plan.queryInfo).toBeDefined();
  });

  test('queries still work when the SDK is forced to use the query plan', async () => {
    const { resources } = await c.items
      .query('SELECT VALUE c.n FROM c WHERE c.n < 4 ORDER BY c.n', { forceQueryPlan: true })
      .fetchAll();
    expect(resources).toEqual([0, 1, 2, 3]);
  });

  test('a malformed query is a 400, not a server error', async () => {
    await expect(c.items.query('SELEC * FROM c').fetchAll()).rejects.toMatchObject({ code: 400 });
  });
});

describe('transactional batch', () => {
  test('a batch whose second operation conflicts applies nothing: 409 for it, 424 for the others', async () => {
    const c = await newContainer();
    await c.items.create({ id: 'taken', meetingId: 'm1', n: 0 });
    const ops: OperationInput[] = [
      { operationType: 'Create', resourceBody: { id: 'new1', meetingId: 'm1' } },
      { operationType: 'Create', resourceBody: { id: 'taken', meetingId: 'm1' } },
      { operationType: 'Upsert', resourceBody: { id: 'new2', meetingId: 'm1' } },
    ];
    const res = await c.items.batch(ops, 'm1');
    expect(res.code).toBe(207);
    expect(res.result?.map((r) => r.statusCode)).toEqual([424, 409, 424]);
    expect((await c.item('new1', 'm1').read()).statusCode).toBe(404);
    expect((await c.item('new2', 'm1').read()).statusCode).toBe(404);
    expect((await c.item('taken', 'm1').read()).resource?.n).toBe(0);
  });

  test('a failed batch also undoes replaces, patches and deletes that came before the failure', async () => {
    const c = await newContainer();
    const { resource: counter } = await c.items.create({ id: 'counter', meetingId: 'm1', seq: 5 });
    await c.items.create({ id: 'old', meetingId: 'm1' });
    const res = await c.items.batch(
      [
        {
          operationType: 'Patch',
          id: 'counter',
          resourceBody: { operations: [{ op: 'incr', path: '/seq', value: 1 }] },
        },
        { operationType: 'Delete', id: 'old' },
        {
          operationType: 'Replace',
          id: 'counter',
          resourceBody: { id: 'counter', meetingId: 'm1', seq: 100 },
        },
        {
          operationType: 'Replace',
          id: 'counter',
          ifMatch: counter?._etag,
          resourceBody: { id: 'counter', meetingId: 'm1' },
        },
      ],
      'm1',
    );
    expect(res.result?.map((r) => r.statusCode)).toEqual([424, 424, 424, 412]);
    const after = await c.item('counter', 'm1').read();
    expect(after.resource?.seq).toBe(5);
    expect(after.resource?._etag).toBe(counter?._etag);
    expect((await c.item('old', 'm1').read()).statusCode).toBe(200);
  });

  test('a successful batch applies every operation, including patch with an etag check', async () => {
    const c = await newContainer();
    const { resource: counter } = await c.items.create({ id: 'counter', meetingId: 'm1', seq: 0 });
    const res = await c.items.batch(
      [
        {
          operationType: 'Patch',
          id: 'counter',
          ifMatch: counter?._etag,
          resourceBody: { operations: [{ op: 'incr', path: '/seq', value: 2 }] },
        },
        { operationType: 'Create', resourceBody: { id: 'ev1', meetingId: 'm1', seq: 1 } },
        { operationType: 'Create', resourceBody: { id: 'ev2', meetingId: 'm1', seq: 2 } },
        { operationType: 'Read', id: 'ev1' },
      ],
      'm1',
    );
    expect(res.code).toBe(200);
    expect(res.result?.map((r) => r.statusCode)).toEqual([200, 201, 201, 200]);
    expect(res.result?.[3]?.resourceBody).toMatchObject({ id: 'ev1', seq: 1 });
    expect((await c.item('counter', 'm1').read()).resource?.seq).toBe(2);
  });

  test('bulk (non-atomic) operations commit one by one: a conflict fails only its own operation', async () => {
    const c = await newContainer();
    await c.items.create({ id: 'taken', meetingId: 'm1' });
    const res = await c.items.executeBulkOperations([
      { operationType: 'Create', partitionKey: 'm1', resourceBody: { id: 'n1', meetingId: 'm1' } },
      { operationType: 'Create', partitionKey: 'm1', resourceBody: { id: 'taken', meetingId: 'm1' } },
      { operationType: 'Upsert', partitionKey: 'm2', resourceBody: { id: 'n2', meetingId: 'm2' } },
    ]);
    expect(res.map((r) => r.response?.statusCode ?? r.error?.code)).toEqual([201, 409, 201]);
    expect((await c.item('n1', 'm1').read()).statusCode).toBe(200);
    expect((await c.item('n2', 'm2').read()).statusCode).toBe(200);
  });

  test('an item whose partition key differs from the batch’s fails the batch', async () => {
    const c = await newContainer();
    const res = await c.items.batch(
      [
        { operationType: 'Create', resourceBody: { id: 'a', meetingId: 'm1' } },
        { operationType: 'Create', resourceBody: { id: 'b', meetingId: 'm2' } },
      ],
      'm1',
    );
    expect(res.result?.map((r) => r.statusCode)).toEqual([424, 400]);
    expect((await c.item('a', 'm1').read()).statusCode).toBe(404);
  });
});

describe('TTL', () => {
  test('with defaultTtl -1, an item with ttl 1 disappears from reads, queries and the change feed; others stay', async () => {
    const c = await newContainer({ defaultTtl: -1 });
    await c.items.create({ id: 'short', meetingId: 'm1', ttl: 1 });
    await c.items.create({ id: 'plain', meetingId: 'm1' });
    await c.items.create({ id: 'forever', meetingId: 'm1', ttl: -1 });
    expect((await c.item('short', 'm1').read()).statusCode).toBe(200);
    await sleep(1200);
    expect((await c.item('short', 'm1').read()).statusCode).toBe(404);
    const { resources } = await c.items.query('SELECT VALUE c.id FROM c', { partitionKey: 'm1' }).fetchAll();
    expect(resources.sort()).toEqual(['forever', 'plain']);
    const feed = await c.items
      .getChangeFeedIterator({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning() })
      .readNext();
    expect(feed.result.map((d: { id: string }) => d.id)).toEqual(['plain', 'forever']);
  });

  test('with defaultTtl 1, items expire unless their own ttl is -1, and an expired id can be created again', async () => {
    const c = await newContainer({ defaultTtl: 1 });
    await c.items.create({ id: 'a', meetingId: 'm1' });
    await c.items.create({ id: 'keep', meetingId: 'm1', ttl: -1 });
    await sleep(1200);
    expect((await c.item('a', 'm1').read()).statusCode).toBe(404);
    expect((await c.item('keep', 'm1').read()).statusCode).toBe(200);
    expect((await c.items.create({ id: 'a', meetingId: 'm1' })).statusCode).toBe(201);
  });

  test('an update restarts an item’s TTL clock', async () => {
    const c = await newContainer({ defaultTtl: 2 });
    await c.items.create({ id: 'a', meetingId: 'm1' });
    await sleep(1200);
    await c.items.upsert({ id: 'a', meetingId: 'm1', touched: true });
    await sleep(1200);
    expect((await c.item('a', 'm1').read()).statusCode).toBe(200);
  });
});

describe('as strict as the service', () => {
  const status = (p: Promise<unknown>) =>
    p.then(
      () => 'ok',
      (e: { code?: number }) => e.code,
    );

  test('an item whose partition key value is an object lives in the None partition, as in the SDK bulk sample', async () => {
    const c = await newContainer({ pk: '/key' });
    await c.items.create({ id: 'obj', key: {} });
    await c.items.create({ id: 'yes', key: true });
    expect((await c.item('obj', {}).read()).statusCode).toBe(200);
    const results = await c.items.executeBulkOperations([
      { operationType: BulkOperationType.Read, id: 'yes', partitionKey: true },
      { operationType: BulkOperationType.Delete, id: 'obj', partitionKey: {} },
    ]);
    expect(results.map((r) => r.response?.statusCode)).toEqual([200, 204]);
    expect((await c.item('obj', {}).read()).statusCode).toBe(404);
  });

  test('item ttl and container defaultTtl must be -1 or 1..2^31-1 seconds; anything else is a 400 and stores nothing', async () => {
    const c = await newContainer({ defaultTtl: -1 });
    for (const ttl of [null, 0, -5, 1.5, 'x', 2_147_483_648]) {
      const item: Record<string, unknown> = { id: `t${String(ttl)}`, meetingId: 'm', ttl };
      expect(await status(c.items.create(item))).toBe(400);
    }
    expect(await status(c.items.create({ id: 'ok', meetingId: 'm', ttl: 60 }))).toBe('ok');
    expect(await status(c.item('ok', 'm').replace({ id: 'ok', meetingId: 'm', ttl: 0 }))).toBe(400);
    const { resources } = await c.items.query('SELECT VALUE c.id FROM c').fetchAll();
    expect(resources).toEqual(['ok']);
    const { resource: def } = await c.read();
    expect(await status(c.replace({ ...def!, defaultTtl: 0 }))).toBe(400);
    expect((await c.read()).resource?.defaultTtl).toBe(-1);
    for (const defaultTtl of [0, -2, 0.5])
      expect(
        await status(
          db.containers.create({ id: `ttl${defaultTtl}`, partitionKey: { paths: ['/p'] }, defaultTtl }),
        ),
      ).toBe(400);
  });

  test('hierarchical partition keys and computed properties are refused as not supported locally', async () => {
    const multi = db.containers.create({
      id: 'multi',
      partitionKey: { paths: ['/tenant', '/meetingId'], kind: PartitionKeyKind.MultiHash, version: 2 },
    });
    await expect(multi).rejects.toMatchObject({ code: 400, message: expect.stringMatching(/not supported/) });
    const computed = db.containers.create({
      id: 'computed',
      partitionKey: { paths: ['/p'] },
      computedProperties: [{ name: 'lower', query: 'SELECT VALUE LOWER(c.name) FROM c' }],
    });
    await expect(computed).rejects.toMatchObject({
      code: 400,
      message: expect.stringMatching(/not supported/),
    });
  });

  test('ORDER BY on a path the indexing policy excludes is refused; on an included path it works', async () => {
    n += 1;
    const { container: c } = await db.containers.create({
      id: `c${n}`,
      partitionKey: { paths: ['/meetingId'] },
      indexingPolicy: {
        includedPaths: [{ path: '/lastSeq/?' }, { path: '/type/?' }],
        excludedPaths: [{ path: '/*' }],
      },
    });
    await c.items.create({ id: 'a', meetingId: 'm', lastSeq: 2, state: { n: 1 } });
    await c.items.create({ id: 'b', meetingId: 'm', lastSeq: 1, state: { n: 2 } });
    const ordered = await c.items
      .query('SELECT VALUE c.id FROM c ORDER BY c.lastSeq DESC', { partitionKey: 'm' })
      .fetchAll();
    expect(ordered.resources).toEqual(['a', 'b']);
    await expect(
      c.items.query('SELECT VALUE c.id FROM c ORDER BY c.state.n', { partitionKey: 'm' }).fetchAll(),
    ).rejects.toMatchObject({ code: 400 });
    // The default policy indexes everything.
    const d = await newContainer();
    await d.items.create({ id: 'x', meetingId: 'm', state: { n: 1 } });
    expect((await d.items.query('SELECT VALUE c.id FROM c ORDER BY c.state.n').fetchAll()).resources).toEqual(
      ['x'],
    );
  });

  test('an indexing directive on a write is refused as not supported locally, and stores nothing', async () => {
    const c = await newContainer();
    const r = c.items.create({ id: 'dir', meetingId: 'm' }, { indexingDirective: 'exclude' });
    await expect(r).rejects.toMatchObject({ code: 400, message: expect.stringMatching(/not supported/) });
    expect((await c.item('dir', 'm').read()).statusCode).toBe(404);
  });

  test('item responses carry the lsn and a session token the SDK accepts, advancing with every write', async () => {
    const c = await newContainer();
    const first = await c.items.create({ id: 's1', meetingId: 'm' });
    const second = await c.items.create({ id: 's2', meetingId: 'm' });
    const lsn = (h: Record<string, unknown>) => Number(h['lsn']);
    expect(lsn(second.headers)).toBe(lsn(first.headers) + 1);
    expect(second.headers['x-ms-session-token']).toBe(`0:-1#${lsn(second.headers)}`);
    const session = new CosmosClient({
      endpoint: cosmos.endpoint,
      key: cosmos.key,
      consistencyLevel: 'Session',
    });
    try {
      const sc = session.database(db.id).container(c.id);
      await sc.items.create({ id: 's3', meetingId: 'm' });
      const read = await sc.item('s3', 'm').read();
      expect(read.statusCode).toBe(200);
      expect(read.headers['x-ms-session-token']).toMatch(/^0:-1#\d+$/);
    } finally {
      session.dispose();
    }
  });
});

describe('scale', () => {
  test('a partition-key query over a 50,000-item container completes in well under a second', async () => {
    const c = await newContainer();
    const batches: [string, OperationInput[]][] = [];
    for (let p = 0; p < 50; p += 1) {
      for (let b = 0; b < 10; b += 1) {
        const ops: OperationInput[] = [];
        for (let i = 0; i < 100; i += 1) {
          const k = b * 100 + i;
          ops.push({
            operationType: 'Create',
            resourceBody: { id: `e${k}`, meetingId: `m${p}`, type: k % 4 ? 'event' : 'state', k },
          });
        }
        batches.push([`m${p}`, ops]);
      }
    }
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < batches.length) {
          const [m, ops] = batches[next++] as [string, OperationInput[]];
          expect((await c.items.batch(ops, m)).code).toBe(200);
        }
      }),
    );

    const start = Date.now();
    const { resources } = await c.items
      .query(
        {
          query: "SELECT * FROM c WHERE c.meetingId = @m AND c.type = 'event' ORDER BY c._ts",
          parameters: [{ name: '@m', value: 'm7' }],
        },
        { partitionKey: 'm7' },
      )
      .fetchAll();
    const elapsed = Date.now() - start;
    expect(resources).toHaveLength(750);
    expect(elapsed).toBeLessThan(1000);

    const crossStart = Date.now();
    const { resources: cross } = await c.items
      .query({
        query: 'SELECT VALUE COUNT(1) FROM c WHERE c.meetingId = @m',
        parameters: [{ name: '@m', value: 'm7' }],
      })
      .fetchAll();
    expect(cross).toEqual([1000]);
    expect(Date.now() - crossStart).toBeLessThan(2000);
  });
});
