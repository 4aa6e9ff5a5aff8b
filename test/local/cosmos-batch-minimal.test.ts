/**
 * Transactional batch with `Prefer: return=minimal` (the SDK's contentResponseOnWriteEnabled:
 * false), as the processor commits state + pages: statuses and etags come back, the documents do
 * not; the etag is the stored one; failures still report which operation failed.
 */
import { CosmosClient, type Container, type OperationInput } from '@azure/cosmos';
import { type EmbeddedCosmos, startEmbeddedCosmos } from '../../local/cosmos/server';

let cosmos: EmbeddedCosmos;
let client: CosmosClient;
let container: Container;

beforeAll(async () => {
  cosmos = await startEmbeddedCosmos({ port: 0 });
  client = new CosmosClient({ endpoint: cosmos.endpoint, key: cosmos.key });
  const { database } = await client.databases.createIfNotExists({ id: 'minimal' });
  ({ container } = await database.containers.createIfNotExists({ id: 'c', partitionKey: '/meetingId' }));
});

afterAll(async () => {
  client.dispose();
  await cosmos.close();
});

const ops = (n: number): OperationInput[] => [
  { operationType: 'Create', resourceBody: { id: `state${n}`, meetingId: 'm', big: 'x'.repeat(1000) } },
  { operationType: 'Create', resourceBody: { id: `page${n}`, meetingId: 'm', n } },
];

test('without a preference the documents come back; with return=minimal only status and etag', async () => {
  const full = await container.items.batch(ops(1), 'm');
  expect(full.result?.[0]?.resourceBody).toMatchObject({ id: 'state1' });
  const minimal = await container.items.batch(ops(2), 'm', { contentResponseOnWriteEnabled: false });
  const [state, page] = minimal.result ?? [];
  expect(state).toMatchObject({ statusCode: 201 });
  expect(page).toMatchObject({ statusCode: 201 });
  expect(state?.resourceBody).toBeUndefined();
  const { etag } = await container.item('state2', 'm').read();
  expect(state?.eTag).toBe(etag);
});

test('a minimal batch that fails names the failing operation and stores nothing', async () => {
  const res = await container.items.batch(
    [
      { operationType: 'Create', resourceBody: { id: 'fresh', meetingId: 'm' } },
      {
        operationType: 'Replace',
        id: 'state2',
        resourceBody: { id: 'state2', meetingId: 'm' },
        ifMatch: '"stale"',
      },
    ],
    'm',
    { contentResponseOnWriteEnabled: false },
  );
  expect(res.result?.map((r) => r.statusCode)).toEqual([424, 412]);
  expect((await container.item('fresh', 'm').read()).resource).toBeUndefined();
});
