/**
 * Durability of the embedded Cosmos DB: data and change-feed positions survive a clean restart,
 * a SIGKILL of the `local/cosmos/main.js` process, compaction, and a torn last journal record.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import {
  ChangeFeedStartFrom,
  type ChangeFeedPullModelIterator,
  type Container,
  CosmosClient,
  StatusCodes,
} from '@azure/cosmos';
import { type EmbeddedCosmos, EMBEDDED_COSMOS_KEY, startEmbeddedCosmos } from '../../local/cosmos/server';

interface Doc {
  id: string;
  meetingId: string;
  n?: number;
  _lsn: number;
}

const MAIN = path.join(__dirname, '..', '..', 'local', 'cosmos', 'main.js');

const tempDirs: string[] = [];
const clients: CosmosClient[] = [];
const servers: EmbeddedCosmos[] = [];
const children: ChildProcess[] = [];

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cosmos-persist-'));
  tempDirs.push(dir);
  return dir;
}

function connect(endpoint: string): CosmosClient {
  const client = new CosmosClient({ endpoint, key: EMBEDDED_COSMOS_KEY });
  clients.push(client);
  return client;
}

async function start(
  dataDir: string,
  compactBytes?: number,
): Promise<{ server: EmbeddedCosmos; client: CosmosClient }> {
  const server = await startEmbeddedCosmos({ dataDir, compactBytes });
  servers.push(server);
  return { server, client: connect(server.endpoint) };
}

async function stop(server: EmbeddedCosmos, client: CosmosClient): Promise<void> {
  client.dispose();
  await server.close();
}

async function events(client: CosmosClient): Promise<Container> {
  const { database } = await client.databases.createIfNotExists({ id: 'meetstream' });
  const { container } = await database.containers.createIfNotExists({
    id: 'events',
    partitionKey: { paths: ['/meetingId'] },
  });
  return container;
}

async function drain(it: ChangeFeedPullModelIterator<Doc>): Promise<{ docs: Doc[]; token: string }> {
  const docs: Doc[] = [];
  for (;;) {
    const page = await it.readNext();
    if (page.statusCode === StatusCodes.NotModified) return { docs, token: page.continuationToken };
    docs.push(...page.result);
  }
}

const fromToken = (c: Container, token: string): ChangeFeedPullModelIterator<Doc> =>
  c.items.getChangeFeedIterator<Doc>({ changeFeedStartFrom: ChangeFeedStartFrom.Continuation(token) });

async function spawnCosmos(
  dataRoot: string,
): Promise<{ child: ChildProcess; ready: Record<string, unknown> }> {
  const child = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      COSMOS_PORT: '0',
      COSMOS_HOST: '127.0.0.1',
      MEETSTREAM_DATA_DIR: dataRoot,
      // The feed checks below read whole pages of one range (several ranges: change-feed-leases).
      COSMOS_PARTITION_RANGES: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const first = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`cosmos exited with ${code}: ${stderr}`)));
    lines.once('line', resolve);
  });
  return { child, ready: JSON.parse(first) as Record<string, unknown> };
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.dispose();
  for (const server of servers.splice(0)) await server.close();
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited(child);
  }
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

test('databases, containers, items, updates and deletes survive a clean restart, with the same container rid', async () => {
  const dir = tempDir();
  let { server, client } = await start(dir);
  const c = await events(client);
  await c.items.create({ id: 'a', meetingId: 'm1', n: 1 });
  await c.items.create({ id: 'b', meetingId: 'm1', n: 1 });
  await c.items.create({ id: 'c', meetingId: 'm2', n: 1 });
  await c.item('a', 'm1').patch([{ op: 'set', path: '/n', value: 2 }]);
  await c.item('b', 'm1').delete();
  const { resource: def } = await c.read();
  if (!def) throw new Error('no container definition');
  await c.replace({ ...def, defaultTtl: 3600 });
  const { database: leases } = await client.databases.createIfNotExists({ id: 'leases' });
  await leases.containers.createIfNotExists({ id: 'l', partitionKey: { paths: ['/id'] } });
  const { database: doomed } = await client.databases.createIfNotExists({ id: 'doomed' });
  await doomed.delete();
  const { container: dropped } = await leases.containers.createIfNotExists({ id: 'dropped' });
  await dropped.items.create({ id: 'x' });
  await dropped.delete();
  await stop(server, client);

  ({ server, client } = await start(dir));
  const c2 = await events(client);
  const { resource: def2 } = await c2.read();
  expect(def2?._rid).toBe(def._rid);
  expect(def2?.defaultTtl).toBe(3600);
  expect((await c2.item('a', 'm1').read()).resource?.n).toBe(2);
  expect((await c2.item('b', 'm1').read()).statusCode).toBe(404);
  expect((await c2.item('c', 'm2').read()).statusCode).toBe(200);
  const { resources: dbs } = await client.databases.readAll().fetchAll();
  expect(dbs.map((d) => d.id).sort()).toEqual(['leases', 'meetstream']);
  const { resources: leaseContainers } = await client.database('leases').containers.readAll().fetchAll();
  expect(leaseContainers.map((x) => x.id)).toEqual(['l']);
  // New items get fresh rids that do not collide with the reloaded ones.
  await c2.items.create({ id: 'd', meetingId: 'm1' });
  const { resources: rids } = await c2.items.query('SELECT VALUE c._rid FROM c').fetchAll();
  expect(new Set(rids).size).toBe(3);
});

test('a continuation saved before a restart resumes exactly after it, even if the last write before it was a delete', async () => {
  const dir = tempDir();
  let { server, client } = await start(dir);
  let c = await events(client);
  for (let i = 0; i < 5; i += 1) await c.items.create({ id: `e${i}`, meetingId: 'm1' });
  await c.items.create({ id: 'last', meetingId: 'm1' });
  const { token } = await drain(
    c.items.getChangeFeedIterator<Doc>({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning() }),
  );
  await c.item('last', 'm1').delete();
  await stop(server, client);

  for (let round = 0; round < 2; round += 1) {
    // Twice: the first restart compacts into a snapshot, the second loads snapshot + journal.
    ({ server, client } = await start(dir));
    c = await events(client);
    await c.items.create({ id: `after-restart-${round}`, meetingId: 'm1' });
    await c.items.upsert({ id: 'e0', meetingId: 'm1', n: round });
    await stop(server, client);
  }

  ({ server, client } = await start(dir));
  c = await events(client);
  const { docs } = await drain(fromToken(c, token));
  expect(docs.map((d) => d.id)).toEqual(['after-restart-0', 'after-restart-1', 'e0']);
  expect(docs.find((d) => d.id === 'e0')?.n).toBe(1);
  const lsns = docs.map((d) => d._lsn);
  expect(lsns).toEqual([...lsns].sort((a, b) => a - b));
});

test('compaction while running keeps every item and the change feed order', async () => {
  const dir = tempDir();
  let { server, client } = await start(dir, 4096);
  let c = await events(client);
  for (let i = 0; i < 120; i += 1) await c.items.upsert({ id: `e${i % 40}`, meetingId: `m${i % 3}`, n: i });
  const before = await drain(
    c.items.getChangeFeedIterator<Doc>({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning() }),
  );
  const journals = fs.readdirSync(dir).filter((f) => f.startsWith('wal-'));
  expect(journals).toHaveLength(1);
  expect(Number(/wal-(\d+)/.exec(journals[0] ?? '')?.[1])).toBeGreaterThan(2);
  await stop(server, client);

  ({ server, client } = await start(dir, 4096));
  c = await events(client);
  const after = await drain(
    c.items.getChangeFeedIterator<Doc>({ changeFeedStartFrom: ChangeFeedStartFrom.Beginning() }),
  );
  expect(after.docs.map((d) => [d.id, d.n, d._lsn])).toEqual(before.docs.map((d) => [d.id, d.n, d._lsn]));
});

test('a torn last journal record (process killed mid-write) is ignored on start', async () => {
  const dir = tempDir();
  let { server, client } = await start(dir);
  let c = await events(client);
  await c.items.create({ id: 'kept', meetingId: 'm1' });
  await stop(server, client);
  const journal = fs.readdirSync(dir).find((f) => f.startsWith('wal-'));
  fs.appendFileSync(path.join(dir, journal ?? 'wal-missing.jsonl'), '{"t":"docs","db":"gAAB');

  const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  try {
    ({ server, client } = await start(dir));
  } finally {
    warn.mockRestore();
  }
  c = await events(client);
  expect((await c.item('kept', 'm1').read()).statusCode).toBe(200);
});

test('a data directory cannot be opened twice in one process', async () => {
  const dir = tempDir();
  await start(dir);
  await expect(startEmbeddedCosmos({ dataDir: dir })).rejects.toThrow(/already open/);
});

test('after SIGKILL of the cosmos process, a restart on the same data dir has every acknowledged write and the feed resumes exactly', async () => {
  const root = tempDir();
  const first = await spawnCosmos(root);
  expect(Object.keys(first.ready)).toEqual(['service', 'ready', 'endpoint', 'port']);
  expect(first.ready).toMatchObject({ service: 'cosmos', ready: true });
  expect(first.ready.endpoint).toBe(`http://127.0.0.1:${String(first.ready.port)}/`);

  let client = connect(first.ready.endpoint as string);
  let c = await events(client);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < 150) {
        const i = next++;
        await c.items.create({ id: `e${i}`, meetingId: `m${i % 5}`, n: i });
      }
    }),
  );
  const batch = await c.items.batch(
    Array.from({ length: 50 }, (_, i) => ({
      operationType: 'Create' as const,
      resourceBody: { id: `b${i}`, meetingId: 'm0', n: i },
    })),
    'm0',
  );
  expect(batch.code).toBe(200);

  const reader = c.items.getChangeFeedIterator<Doc>({
    changeFeedStartFrom: ChangeFeedStartFrom.Beginning(),
    maxItemCount: 60,
  });
  const seenBefore: string[] = [];
  let token = '';
  for (let page = 0; page < 2; page += 1) {
    const res = await reader.readNext();
    seenBefore.push(...res.result.map((d) => d.id));
    token = res.continuationToken;
  }
  expect(seenBefore).toHaveLength(120);

  // Another process cannot take the directory while this one holds it.
  await expect(startEmbeddedCosmos({ dataDir: path.join(root, 'cosmos') })).rejects.toThrow(
    /in use by process/,
  );

  first.child.kill('SIGKILL');
  expect((await exited(first.child)).signal).toBe('SIGKILL');
  client.dispose();

  const second = await spawnCosmos(root);
  client = connect(second.ready.endpoint as string);
  c = await events(client);
  const { resources: count } = await c.items.query('SELECT VALUE COUNT(1) FROM c').fetchAll();
  expect(count).toEqual([200]);
  const rest = await drain(fromToken(c, token));
  const all = [...seenBefore, ...rest.docs.map((d) => d.id)];
  expect(all).toHaveLength(200);
  expect(new Set(all).size).toBe(200);

  second.child.kill('SIGTERM');
  expect(await exited(second.child)).toEqual({ code: 0, signal: null });
  expect(fs.existsSync(path.join(root, 'cosmos', 'snapshot.jsonl'))).toBe(true);
  expect(fs.existsSync(path.join(root, 'cosmos', 'LOCK'))).toBe(false);
});
