/**
 * The local functions runner hosts an app the way the Functions host does: HTTP routes under the
 * route prefix with function keys, Cosmos DB change-feed triggers with leases, checkpoints,
 * batch limits and retry policies, and timer triggers. Driven with a small fixture app.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as net from 'node:net';
import * as path from 'node:path';
import { CosmosClient, type Container } from '@azure/cosmos';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../local/cosmos/server';
import { spawnService, type ChildService } from '../../local/supervisor';
import { waitUntil } from '../support/stack';

const runnerMain = path.resolve(__dirname, '..', '..', 'local', 'runner', 'main.js');
const fixtureJs = path.resolve(__dirname, '..', 'fixtures', 'hostApp', 'functions.js');

interface Record {
  fn: string;
  ids?: string[];
  failed?: string[];
  retryCount?: number;
}

describe('local functions runner', () => {
  let cosmos: EmbeddedCosmos;
  let client: CosmosClient;
  let items: Container;
  let dir: string;
  let recordFile: string;
  let runner: ChildService | undefined;
  const KEY = 'test-function-key-123';

  const records = (): Record[] =>
    fs.existsSync(recordFile)
      ? fs
          .readFileSync(recordFile, 'utf8')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record)
      : [];
  const delivered = () => records().flatMap((r) => r.ids ?? []);

  async function start(env: NodeJS.ProcessEnv = {}): Promise<ChildService> {
    runner = await spawnService({
      name: 'runner',
      script: runnerMain,
      args: [dir],
      env: {
        ...process.env,
        PORT: '0',
        CosmosDBConnection: `AccountEndpoint=${cosmos.endpoint};AccountKey=${cosmos.key};`,
        HOST_APP_RECORD: recordFile,
        RUNNER_INSTANCE_ID: 'test-instance',
        ...env,
      },
    });
    return runner;
  }

  beforeAll(async () => {
    cosmos = await startEmbeddedCosmos({ port: 0 });
    client = new CosmosClient({ endpoint: cosmos.endpoint, key: cosmos.key });
    const { database } = await client.databases.createIfNotExists({ id: 'hostdb' });
    items = (await database.containers.createIfNotExists({ id: 'items', partitionKey: '/pk' })).container;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'host-app-'));
    recordFile = path.join(dir, 'record.jsonl');
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'host-app', main: fixtureJs }));
    fs.writeFileSync(
      path.join(dir, 'host.json'),
      JSON.stringify({ version: '2.0', extensions: { http: { routePrefix: 'api' } } }),
    );
  });

  afterEach(async () => {
    await runner?.stop();
    runner = undefined;
  });

  afterAll(async () => {
    client?.dispose();
    await cosmos?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('HTTP routes get their parameters, and function keys are enforced only when one is configured', async () => {
    const open = await start();
    const base = `http://127.0.0.1:${open.info.port}/api`;
    const res = await fetch(`${base}/hello/ada?q=1`, { method: 'POST', body: 'payload' });
    expect(await res.json()).toEqual({ name: 'ada', method: 'POST', query: '1', body: 'payload' });
    expect(res.headers.get('x-handled-by')).toBe('hello');
    await open.stop();

    const locked = await start({ LOCAL_FUNCTION_KEY: KEY });
    const url = `http://127.0.0.1:${locked.info.port}/api`;
    const denied = await fetch(`${url}/hello/ada`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get('content-type')).toContain('application/problem+json');
    expect((await fetch(`${url}/hello/ada`, { headers: { 'x-functions-key': KEY } })).status).toBe(200);
    expect((await fetch(`${url}/hello/ada?code=${KEY}`)).status).toBe(200);
    expect((await fetch(`${url}/hello/ada?code=wrong-key-of-same-len`)).status).toBe(401);
    expect((await fetch(`${url}/open`)).status).toBe(200); // anonymous stays open
  });

  test('unknown routes, wrong methods and failing functions get problem answers without internals', async () => {
    const svc = await start();
    const base = `http://127.0.0.1:${svc.info.port}/api`;
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/open`, { method: 'DELETE' })).status).toBe(405);
    const broken = await fetch(`${base}/broken`);
    expect(broken.status).toBe(500);
    expect(await broken.text()).not.toContain('secret detail');
  });

  test('the change feed is delivered in batches of at most maxItemsPerInvocation and resumes from its checkpoint', async () => {
    for (let i = 0; i < 10; i++) await items.items.create({ id: `a${i}`, pk: `p${i % 3}` });
    await start({ HOST_APP_FROM_BEGINNING: 'true' });
    await waitUntil(() => delivered().length >= 10);
    expect([...delivered()].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `a${i}`).sort());
    expect(records().every((r) => (r.ids?.length ?? 0) <= 3)).toBe(true);
    await runner!.stop();

    // While the runner is down, more changes arrive; after a restart only those are delivered.
    for (let i = 0; i < 5; i++) await items.items.create({ id: `b${i}`, pk: 'p0' });
    await start({ HOST_APP_FROM_BEGINNING: 'true' });
    await waitUntil(() => delivered().length >= 15);
    await new Promise((r) => setTimeout(r, 300));
    const all = delivered();
    expect(all.filter((id) => id.startsWith('b')).sort()).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
    expect(new Set(all).size).toBe(all.length); // nothing checkpointed was delivered again
  });

  test('a failing batch is retried by the retry policy with the retry count, then the feed moves on', async () => {
    const before = records().length;
    await start({ HOST_APP_FROM_BEGINNING: 'true' });
    await items.items.create({ id: 'flaky', pk: 'p1', failTimes: 2 });
    await waitUntil(() => delivered().includes('flaky'));
    const mine = records()
      .slice(before)
      .filter((r) => r.failed?.includes('flaky') || r.ids?.includes('flaky'));
    expect(mine.map((r) => r.retryCount)).toEqual([0, 1, 2]);
    expect(mine.map((r) => (r.failed ? 'failed' : 'ok'))).toEqual(['failed', 'failed', 'ok']);
  });

  test('timer triggers fire on their schedule', async () => {
    const before = records().filter((r) => r.fn === 'tick').length;
    await start();
    await waitUntil(() => records().filter((r) => r.fn === 'tick').length >= before + 2, 5000);
  });

  test('a port in use names the setting that moves it', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const failure = await start({ PORT: String(port) }).then(
        () => 'started',
        (err: unknown) => String(err),
      );
      expect(failure).toContain(`port ${port} is already in use: set PORT to a free port`);
    } finally {
      runner = undefined;
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  test('the runner binds RUNNER_HOST, not HOST (which shells and scripts set to other things)', async () => {
    // A token in HOST, as the README walkthrough's own variables could leave behind, changes nothing.
    const svc = await start({ HOST: 'eyJhbGciOiJIUzI1NiJ9.e30.sig' });
    expect(String(svc.info.url)).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await svc.stop();
    runner = undefined;
    const failure = await start({ RUNNER_HOST: 'not a host' }).then(
      () => 'started',
      (err: unknown) => String(err),
    );
    expect(failure).toContain('RUNNER_HOST must be a host name or IP address');
  });
});

describe('local functions runner refuses what the Functions host refuses', () => {
  const refusedJs = path.resolve(__dirname, '..', 'fixtures', 'refusedApp', 'functions.js');
  let dir: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'refused-app-'));
    fs.writeFileSync(
      path.join(dir, 'package.json'),
      JSON.stringify({ name: 'refused-app', main: refusedJs }),
    );
    fs.writeFileSync(path.join(dir, 'host.json'), JSON.stringify({ version: '2.0' }));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const startRefused = (env: NodeJS.ProcessEnv = {}) =>
    spawnService({
      name: 'runner',
      script: runnerMain,
      args: [dir],
      env: {
        ...process.env,
        PORT: '0',
        CosmosDBConnection: 'AccountEndpoint=http://127.0.0.1:9/;AccountKey=a2V5;',
        ...env,
      },
      readyTimeoutMs: 20_000,
    });

  test('a route under admin/ and a sub-second retry interval stop the start, naming both', async () => {
    const failure = await startRefused().then(
      async (svc) => {
        await svc.stop();
        return undefined;
      },
      (err: unknown) => String(err),
    );
    expect(failure).toContain('exited with code 1');
    expect(failure).toContain(
      'operatorThing: route "admin/things/{id}": The specified route conflicts with one or more built in routes',
    );
    expect(failure).toContain('feed: retry.minimumInterval reaches the host as 0 s');
  });

  test('an appStart hook that throws fails the start, as it fails worker initialisation', async () => {
    const failure = await startRefused({ HOST_APP_FAIL_START: '1' }).then(
      async (svc) => {
        await svc.stop();
        return undefined;
      },
      (err: unknown) => String(err),
    );
    expect(failure).toContain('an appStart hook threw: database unreachable');
  });
});
