/**
 * The start-up check of the database and containers (lib/adapters/cosmos.ts verifyCosmosResources):
 * under an identity nothing is created (data-plane RBAC cannot), so a missing container, a wrong
 * partition key or a meetings container without TTL must stop the app with a message saying
 * exactly what is wrong, instead of failing on first use.
 */
import { CosmosClient } from '@azure/cosmos';
import { ensureCosmosResources, verifyCosmosResources } from '../../lib/adapters/cosmos';
import { readConfig } from '../../lib/config';
import { type EmbeddedCosmos, startEmbeddedCosmos } from '../../local/cosmos/server';

let cosmos: EmbeddedCosmos;
let client: CosmosClient;

beforeAll(async () => {
  cosmos = await startEmbeddedCosmos({ port: 0 });
  client = new CosmosClient({ endpoint: cosmos.endpoint, key: cosmos.key });
});
afterAll(async () => {
  client.dispose();
  await cosmos.close();
});

const config = (database: string) =>
  readConfig({
    CosmosDBConnection: `AccountEndpoint=${cosmos.endpoint};AccountKey=${cosmos.key};`,
    WebPubSubConnectionString: 'Endpoint=https://hub.webpubsub.azure.com;AccessKey=k;Version=1.0;',
    MEETSTREAM_TOKEN_SECRET: 'x'.repeat(40),
    COSMOS_DATABASE: database,
    COSMOS_CREATE_IF_NOT_EXISTS: 'false',
  });

async function problemOf(database: string): Promise<string> {
  try {
    await verifyCosmosResources(config(database), client);
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

test('a missing database is named, with what to do about it', async () => {
  const message = await problemOf('absent');
  expect(message).toContain("database 'absent' does not exist");
  expect(message).toContain('COSMOS_CREATE_IF_NOT_EXISTS');
});

test('missing containers, wrong partition keys and a meetings container without TTL are all listed', async () => {
  const { database } = await client.databases.createIfNotExists({ id: 'wrong' });
  await database.containers.createIfNotExists({ id: 'events', partitionKey: '/id' });
  await database.containers.createIfNotExists({ id: 'meetings', partitionKey: '/meetingId' });
  const message = await problemOf('wrong');
  expect(message).toContain("container 'events' has partition key /id, expected /meetingId");
  expect(message).toContain("container 'meetings' has no default TTL: it must be -1");
  expect(message).toContain("container 'leases' does not exist (partition key /id)");
});

test('a meetings container whose default TTL would expire meetings is refused', async () => {
  const { database } = await client.databases.createIfNotExists({ id: 'ttl' });
  await database.containers.createIfNotExists({ id: 'events', partitionKey: '/meetingId' });
  await database.containers.createIfNotExists({
    id: 'meetings',
    partitionKey: '/meetingId',
    defaultTtl: 3600,
  });
  await database.containers.createIfNotExists({ id: 'leases', partitionKey: '/id' });
  expect(await problemOf('ttl')).toContain("container 'meetings' has default TTL 3600 s: it must be -1");
});

test('what ensureCosmosResources creates passes the check', async () => {
  await ensureCosmosResources(config('right'), client);
  await expect(verifyCosmosResources(config('right'), client)).resolves.toBeUndefined();
});
