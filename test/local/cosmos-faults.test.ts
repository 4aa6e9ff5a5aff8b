/**
 * Fault injection in the embedded Cosmos DB (local/cosmos/faults.ts): injected 429s look like
 * Cosmos DB's own throttling to the unmodified SDK, which retries them; nothing is stored twice or
 * lost; the setting is off by default and can be changed at run time.
 */
import { CosmosClient, type Container } from '@azure/cosmos';
import { FAULTS_PATH, parseFaults } from '../../local/cosmos/faults';
import { type EmbeddedCosmos, startEmbeddedCosmos } from '../../local/cosmos/server';

async function setup(
  cosmos: EmbeddedCosmos,
  retries?: number,
): Promise<{ client: CosmosClient; container: Container }> {
  const client = new CosmosClient({
    endpoint: cosmos.endpoint,
    key: cosmos.key,
    connectionPolicy:
      retries === undefined
        ? undefined
        : {
            retryOptions: {
              maxRetryAttemptCount: retries,
              fixedRetryIntervalInMilliseconds: 0,
              maxWaitTimeInSeconds: 5,
            },
          },
  });
  const { database } = await client.databases.createIfNotExists({ id: 'faults' });
  const { container } = await database.containers.createIfNotExists({ id: 'c', partitionKey: '/meetingId' });
  return { client, container };
}

async function faults(cosmos: EmbeddedCosmos, body?: unknown): Promise<Record<string, number>> {
  const res = await fetch(`${cosmos.endpoint.replace(/\/$/, '')}${FAULTS_PATH}`, {
    method: body === undefined ? 'GET' : 'POST',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, number>;
}

describe('COSMOS_FAULTS settings', () => {
  test('off unless set; throttle, retryAfterMs and seed are read; anything else is refused', () => {
    expect(parseFaults(undefined)).toEqual({ throttle: 0, retryAfterMs: 10 });
    expect(parseFaults(' ')).toEqual({ throttle: 0, retryAfterMs: 10 });
    expect(parseFaults('throttle=0.25,retryAfterMs=20,seed=7')).toEqual({
      throttle: 0.25,
      retryAfterMs: 20,
      seed: 7,
    });
    expect(() => parseFaults('throttle=2')).toThrow(/between 0 and 1/);
    expect(() => parseFaults('throttle=x')).toThrow(/cannot read/);
    expect(() => parseFaults('latency=5')).toThrow(/unknown setting/);
  });
});

describe('injected throttling', () => {
  let cosmos: EmbeddedCosmos;
  afterEach(async () => {
    await cosmos.close();
  });

  test('by default nothing is throttled', async () => {
    cosmos = await startEmbeddedCosmos({ port: 0 });
    const { client, container } = await setup(cosmos);
    for (let i = 0; i < 50; i++) await container.items.create({ id: `d${i}`, meetingId: 'm' });
    expect(await faults(cosmos)).toMatchObject({ throttle: 0, throttled: 0 });
    client.dispose();
  });

  test('a throttled request is a 429 with x-ms-retry-after-ms; the account read never is', async () => {
    cosmos = await startEmbeddedCosmos({ port: 0, faults: { throttle: 1, retryAfterMs: 25 } });
    const base = cosmos.endpoint.replace(/\/$/, '');
    const account = await fetch(`${base}/`);
    expect(account.status).toBe(200);
    const res = await fetch(`${base}/dbs/x/colls/y/docs`, { method: 'POST', body: '{"id":"a"}' });
    expect(res.status).toBe(429);
    expect(res.headers.get('x-ms-retry-after-ms')).toBe('25');
    expect(((await res.json()) as { code: string }).code).toBe('TooManyRequests');
    expect(await faults(cosmos)).toMatchObject({ throttle: 1, requests: 1, throttled: 1 });
  });

  test('the SDK retries injected 429s: every write lands exactly once and reads back', async () => {
    cosmos = await startEmbeddedCosmos({ port: 0, faults: { throttle: 0.3, retryAfterMs: 1, seed: 42 } });
    const { client, container } = await setup(cosmos);
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        container.items.create({ id: `d${i}`, meetingId: `m${i % 5}`, i }),
      ),
    );
    const { resources } = await container.items.query<{ id: string }>('SELECT c.id FROM c').fetchAll();
    expect(resources.map((r) => r.id).sort()).toEqual(Array.from({ length: 200 }, (_, i) => `d${i}`).sort());
    const state = await faults(cosmos);
    expect(state.throttled).toBeGreaterThan(30);
    client.dispose();
  });

  test('throttling that outlasts the retries reaches the caller as 429 and stores nothing; it can be switched off at run time', async () => {
    cosmos = await startEmbeddedCosmos({ port: 0 });
    const { client, container } = await setup(cosmos, 2);
    expect(await faults(cosmos, { throttle: 1, retryAfterMs: 1 })).toMatchObject({
      throttle: 1,
      retryAfterMs: 1,
    });
    await expect(container.items.create({ id: 'x', meetingId: 'm' })).rejects.toMatchObject({ code: 429 });
    expect(await faults(cosmos, { throttle: 0 })).toMatchObject({ throttle: 0, throttled: 3 });
    const { resource } = await container.item('x', 'm').read();
    expect(resource).toBeUndefined();
    await container.items.create({ id: 'x', meetingId: 'm' });
    expect((await container.item('x', 'm').read()).resource).toMatchObject({ id: 'x' });
    client.dispose();
  });

  test('a bad control request is refused and changes nothing', async () => {
    cosmos = await startEmbeddedCosmos({ port: 0, faults: { throttle: 0.1, retryAfterMs: 5 } });
    const base = cosmos.endpoint.replace(/\/$/, '');
    const res = await fetch(`${base}${FAULTS_PATH}`, { method: 'POST', body: '{"throttle": 7}' });
    expect(res.status).toBe(400);
    expect(await faults(cosmos)).toMatchObject({ throttle: 0.1, retryAfterMs: 5 });
  });
});
