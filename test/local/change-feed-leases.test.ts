/**
 * A container with several physical partition key ranges, read by two runner instances that
 * share the trigger's leases, as function app instances do once a container has split: one lease
 * per feed range, an even split between live instances, and a crashed instance's leases taken over
 * from their checkpoints, with no change lost.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChangeFeedStartFrom, CosmosClient, type Container } from '@azure/cosmos';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../local/cosmos/server';
import { spawnService, type ChildService } from '../../local/supervisor';
import { waitUntil } from '../support/stack';

const runnerMain = path.resolve(__dirname, '..', '..', 'local', 'runner', 'main.js');
const fixtureJs = path.resolve(__dirname, '..', 'fixtures', 'hostApp', 'functions.js');
const RANGES = 4;

let cosmos: EmbeddedCosmos;
let client: CosmosClient;
let items: Container;
let leases: Container;
let dir: string;
const runners: ChildService[] = [];

beforeAll(async () => {
  cosmos = await startEmbeddedCosmos({ port: 0, partitionRanges: RANGES });
  client = new CosmosClient({ endpoint: cosmos.endpoint, key: cosmos.key });
  const { database } = await client.databases.createIfNotExists({ id: 'hostdb' });
  items = (await database.containers.createIfNotExists({ id: 'items', partitionKey: '/pk' })).container;
  leases = (await database.containers.createIfNotExists({ id: 'leases', partitionKey: '/id' })).container;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lease-app-'));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'lease-app', main: fixtureJs }));
  fs.writeFileSync(path.join(dir, 'host.json'), JSON.stringify({ version: '2.0' }));
});

afterAll(async () => {
  await Promise.all(runners.map((r) => r.stop()));
  client?.dispose();
  await cosmos?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const recordOf = (instance: string) => path.join(dir, `${instance}.jsonl`);

function delivered(instance: string): string[] {
  const file = recordOf(instance);
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .flatMap((l) => (JSON.parse(l) as { ids?: string[] }).ids ?? []);
}

async function startInstance(instance: string): Promise<ChildService> {
  const runner = await spawnService({
    name: instance,
    script: runnerMain,
    args: [dir],
    env: {
      ...process.env,
      PORT: '0',
      RUNNER_TRIGGERS: 'cosmosDB',
      RUNNER_INSTANCE_ID: instance,
      CosmosDBConnection: `AccountEndpoint=${cosmos.endpoint};AccountKey=${cosmos.key};`,
      HOST_APP_RECORD: recordOf(instance),
      HOST_APP_FROM_BEGINNING: 'true',
      HOST_APP_LEASE_ACQUIRE_MS: '200',
      HOST_APP_LEASE_EXPIRATION_MS: '1500',
      HOST_APP_LEASE_RENEW_MS: '300',
    },
  });
  runners.push(runner);
  return runner;
}

async function owners(): Promise<Record<string, number>> {
  const { resources } = await leases.items
    .query<{ owner: string; expiresAt: number }>('SELECT c.owner, c.expiresAt FROM c')
    .fetchAll();
  const count: Record<string, number> = {};
  for (const l of resources)
    if (l.owner && l.expiresAt > Date.now()) count[l.owner] = (count[l.owner] ?? 0) + 1;
  return count;
}

async function write(from: number, to: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = from; i < to; i++) {
    await items.items.create({ id: `d${i}`, pk: `meeting-${i % 24}` });
    ids.push(`d${i}`);
  }
  return ids;
}

test('the container offers one feed range per physical partition, each item in exactly one', async () => {
  const { container: probe } = await client
    .database('hostdb')
    .containers.createIfNotExists({ id: 'probe', partitionKey: '/pk' });
  for (let i = 0; i < 40; i++) await probe.items.create({ id: `p${i}`, pk: `meeting-${i}` });
  const ranges = await probe.getFeedRanges();
  expect(ranges).toHaveLength(RANGES);
  const perRange: string[][] = [];
  for (const range of ranges) {
    const feed = probe.items.getChangeFeedIterator<{ id: string }>({
      changeFeedStartFrom: ChangeFeedStartFrom.Beginning(range),
      maxItemCount: 100,
    });
    const ids: string[] = [];
    for (let page = 0; page < 3; page++) ids.push(...(await feed.readNext()).result.map((d) => d.id));
    perRange.push(ids);
  }
  expect(perRange.every((ids) => ids.length > 0)).toBe(true);
  expect(perRange.flat().sort()).toEqual(Array.from({ length: 40 }, (_, i) => `p${i}`).sort());
});

test('two instances split the leases evenly, and a crashed instance’s ranges are taken over with nothing lost', async () => {
  const all = await write(0, 48);
  const a = await startInstance('instance-a');
  await waitUntil(() => new Set(delivered('instance-a')).size === 48, 15_000);
  expect(await owners()).toEqual({ 'instance-a': RANGES });

  await startInstance('instance-b');
  await waitUntil(async () => {
    const o = await owners();
    return o['instance-a'] === RANGES / 2 && o['instance-b'] === RANGES / 2;
  }, 15_000);
  all.push(...(await write(48, 96)));
  await waitUntil(
    () => new Set([...delivered('instance-a'), ...delivered('instance-b')]).size === 96,
    15_000,
  );
  // Both did part of the work after the split.
  expect(delivered('instance-b').length).toBeGreaterThan(0);
  expect(delivered('instance-a').filter((id) => Number(id.slice(1)) >= 48).length).toBeGreaterThan(0);

  await a.kill();
  all.push(...(await write(96, 144)));
  await waitUntil(async () => (await owners())['instance-b'] === RANGES, 15_000);
  await waitUntil(
    () => new Set([...delivered('instance-a'), ...delivered('instance-b')]).size === 144,
    15_000,
  );
  const union = new Set([...delivered('instance-a'), ...delivered('instance-b')]);
  expect([...union].sort()).toEqual([...all].sort());
  // At-least-once: a handover may redeliver what was in flight, never more than that batch.
  const twice = delivered('instance-a').length + delivered('instance-b').length - union.size;
  expect(twice).toBeLessThanOrEqual(3 * RANGES);
});
