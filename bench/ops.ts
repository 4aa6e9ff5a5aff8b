/**
 * What one operation of the hot path costs, in CPU on each side: the calls the runner makes per
 * event and per change-feed batch, against the embedded Cosmos DB and Web PubSub in their own
 * processes (as the stack runs them). CPU is process time (user + system), so it is far less
 * sensitive than wall time to other load on the machine.
 *
 *   node dist/bench/ops.js [--n=1000] [--in-flight=4]
 */
import { createSecretKey } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChangeFeedStartFrom, CosmosClient, type Container, type OperationInput } from '@azure/cosmos';
import { WebPubSubServiceClient, AzureKeyCredential } from '@azure/web-pubsub';
import { applyEvent, flushAnalytics, initialModel } from '../lib/domain/meeting';
import { generateMeeting } from '../test/fixtures/meetingScript';
import { spawnService, type ChildService } from '../local/supervisor';
import { Args } from './lib/args';
import { cpuSeconds } from './lib/machine';

const COSMOS_KEY = 'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU9DXHkdnWVSKjFjXuvpwbn+PUuw6qd2t5kzi1sP1C6iu1v5g==';
const WPS_KEY = 'ops-bench-access-key-0123456789abcdefghijkl';

export interface OpCost {
  op: string;
  n: number;
  /** CPU µs per operation in the calling process (the runner's side). */
  clientCpuUs: number;
  /** CPU µs per operation in the service process. */
  serverCpuUs: number;
  wallUs: number;
}

async function measure(
  op: string,
  n: number,
  inFlight: number,
  server: ChildService,
  fn: (i: number) => Promise<unknown>,
): Promise<OpCost> {
  for (let i = 0; i < 400; i++) await fn(-1 - i); // warm-up (JIT)
  const c0 = process.cpuUsage();
  const s0 = cpuSeconds(server.child.pid);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) await fn(next++);
    }),
  );
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const s = cpuSeconds(server.child.pid) - s0;
  return {
    op,
    n,
    clientCpuUs: Math.round((c.user + c.system) / n),
    serverCpuUs: Math.round((s * 1e6) / n),
    wallUs: Math.round((wall * 1000) / n),
  };
}

/** A meeting model as the processor persists it after ~1,200 events of 20 participants. */
function sampleState(): Record<string, unknown> {
  const model = initialModel();
  const events = generateMeeting({
    seed: 7,
    steps: 1200,
    participants: 20,
    meanGapMs: 50,
    end: false,
    pollEvery: 400,
  });
  for (const e of events) applyEvent(model, e, e.receivedAt);
  flushAnalytics(model, events[events.length - 1]!.receivedAt + 10);
  return { seq: 1500, lsn: 1200, pushedSeq: 1499, model, poison: { count: 0, recent: [] } };
}

export async function runOps(opts: {
  n: number;
  inFlight: number;
  log: (l: string) => void;
}): Promise<OpCost[]> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meetstream-ops-'));
  const dist = path.resolve(__dirname, '..', 'local');
  const [cosmos, hub] = await Promise.all([
    spawnService({
      name: 'cosmos',
      script: path.join(dist, 'cosmos', 'main.js'),
      env: { ...process.env, COSMOS_PORT: '0', MEETSTREAM_DATA_DIR: dataDir },
    }),
    spawnService({
      name: 'webpubsub',
      script: path.join(dist, 'webpubsub', 'main.js'),
      env: { ...process.env, WEBPUBSUB_PORT: '0', WEBPUBSUB_ACCESS_KEY: WPS_KEY },
    }),
  ]);
  const client = new CosmosClient({ endpoint: `http://127.0.0.1:${cosmos.info.port}/`, key: COSMOS_KEY });
  const out: OpCost[] = [];
  try {
    const { database } = await client.databases.createIfNotExists({ id: 'ops' });
    const events: Container = (
      await database.containers.createIfNotExists({ id: 'events', partitionKey: '/meetingId' })
    ).container;
    const meetings: Container = (
      await database.containers.createIfNotExists({ id: 'meetings', partitionKey: '/meetingId' })
    ).container;
    const { n, inFlight } = opts;
    const event = (i: number) => ({
      id: `e-${i}-${Math.random().toString(36).slice(2)}`,
      type: 'event',
      schemaVersion: 1,
      meetingId: `m${Math.abs(i) % 50}`,
      eventType: 'chat.message',
      data: { text: 'message: the quick brown fox jumps over the lazy dog' },
      participantId: 'p1234567890',
      role: 'attendee',
      receivedAt: Date.now(),
    });
    const add = (c: OpCost) => {
      out.push(c);
      opts.log(`${c.op}: client ${c.clientCpuUs} µs, server ${c.serverCpuUs} µs CPU, wall ${c.wallUs} µs`);
    };
    add(await measure('cosmos: create event', n, inFlight, cosmos, (i) => events.items.create(event(i))));
    add(
      await measure('cosmos: point read, miss (404)', n, inFlight, cosmos, (i) =>
        events.item(`missing-${i}`, `m${Math.abs(i) % 50}`).read(),
      ),
    );
    let continuation: string | undefined;
    {
      const it = events.items.getChangeFeedIterator({
        changeFeedStartFrom: ChangeFeedStartFrom.Now(),
        maxItemCount: 100,
      });
      continuation = (await it.readNext()).continuationToken;
    }
    add(
      await measure('cosmos: empty feed poll, new iterator (runner before)', n, 1, cosmos, async () => {
        const it = events.items.getChangeFeedIterator({
          changeFeedStartFrom: ChangeFeedStartFrom.Continuation(continuation!),
          maxItemCount: 100,
        });
        continuation = (await it.readNext()).continuationToken;
      }),
    );
    const reused = events.items.getChangeFeedIterator({
      changeFeedStartFrom: ChangeFeedStartFrom.Continuation(continuation!),
      maxItemCount: 100,
    });
    add(await measure('cosmos: empty feed poll, same iterator', n, 1, cosmos, () => reused.readNext()));

    const state = sampleState();
    const stateBytes = JSON.stringify(state).length;
    const etags = new Map<string, string>();
    let page = 0;
    for (const minimal of [false, true])
      add(
        await measure(
          `cosmos: commit batch (state ${Math.round(stateBytes / 1024)} KB + 1 page)${minimal ? ', return=minimal' : ' (adapter before)'}`,
          Math.ceil(n / 2),
          inFlight,
          cosmos,
          async (i) => {
            const meetingId = `m${Math.abs(i) % 50}`;
            const etag = etags.get(meetingId);
            const stateDoc = { id: 'state', type: 'state', schemaVersion: 1, meetingId, state };
            const p = {
              id: `page.${String(++page).padStart(12, '0')}`,
              type: 'page',
              meetingId,
              envelopes: [{ seq: page, kind: 'event', type: 'chat.message', data: { text: 'hello' } }],
            };
            const ops = [
              etag
                ? { operationType: 'Replace', id: 'state', resourceBody: stateDoc, ifMatch: etag }
                : { operationType: 'Create', resourceBody: stateDoc },
              { operationType: 'Create', resourceBody: p },
            ] as unknown as OperationInput[];
            const res = await meetings.items.batch(
              ops,
              meetingId,
              minimal ? { contentResponseOnWriteEnabled: false } : {},
            );
            const e = res.result?.[0]?.eTag;
            if (e) etags.set(meetingId, e);
          },
        ),
      );

    const endpoint = `http://127.0.0.1:${hub.info.port}`;
    const envelopes = Array.from({ length: 3 }, (_, k) => ({
      seq: k,
      meetingId: 'm-0000000000',
      kind: 'event',
      type: 'chat.message',
      id: `e-${k}`,
      actor: 'p-0000000000',
      data: { text: 'message: the quick brown fox jumps over the lazy dog' },
      at: new Date().toISOString(),
      trace: { accepted: Date.now(), processed: Date.now() },
    }));
    const sdk = new WebPubSubServiceClient(`Endpoint=${endpoint};AccessKey=${WPS_KEY};Version=1.0;`, 'ops', {
      allowInsecureConnection: true,
    });
    add(
      await measure('webpubsub: group send, SDK, string key (adapter before)', n, inFlight, hub, (i) =>
        sdk.group(`g${Math.abs(i) % 50}`).sendToAll(envelopes as unknown as Record<string, unknown>),
      ),
    );
    const keyed = new WebPubSubServiceClient(
      endpoint,
      { key: createSecretKey(Buffer.from(WPS_KEY)) } as unknown as AzureKeyCredential,
      'ops',
      { allowInsecureConnection: true },
    );
    add(
      await measure('webpubsub: group send, SDK, KeyObject key', n, inFlight, hub, (i) =>
        keyed.group(`g${Math.abs(i) % 50}`).sendToAll(envelopes as unknown as Record<string, unknown>),
      ),
    );
  } finally {
    client.dispose();
    await Promise.all([cosmos.stop(), hub.stop()]);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  return out;
}

if (require.main === module) {
  const args = new Args();
  runOps({ n: args.num('n', 1000), inFlight: args.num('in-flight', 4), log: (l) => console.log(l) }).catch(
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
