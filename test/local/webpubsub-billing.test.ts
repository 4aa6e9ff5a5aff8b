/**
 * Billed Web PubSub messages as the embedded hub counts them, driven through the official SDKs
 * (`@azure/web-pubsub` for REST sends, `@azure/web-pubsub-client` for the clients): each message
 * to each recipient in 2 KB units, upstream event-handler calls the same way, inbound free; read
 * in process and on the authenticated `/_embedded/stats` route.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebPubSubServiceClient } from '@azure/web-pubsub';
import { WebPubSubClient, WebPubSubJsonReliableProtocol } from '@azure/web-pubsub-client';
import { signJwt } from '../../local/webpubsub/auth';
import type { BillingSnapshot } from '../../local/webpubsub/billing';
import { startEmbeddedWebPubSub, type EmbeddedWebPubSub } from '../../local/webpubsub/server';
import { sleep, waitUntil } from '../support/stack';

const KEY = 'billing-test-access-key-0123456789abcdefghij';
const HUB = 'meetstream';

/** Records the event handler's calls (body sizes by event name); answers 204. */
const calls: Array<{ event: string; bytes: number }> = [];
const upstream = http.createServer((req, res) => {
  let bytes = 0;
  req.on('data', (c: Buffer) => (bytes += c.length));
  req.on('end', () => {
    calls.push({ event: String(req.headers['ce-eventname']), bytes });
    res.writeHead(204).end();
  });
});

let svc: EmbeddedWebPubSub;
let service: WebPubSubServiceClient;
const clients: WebPubSubClient[] = [];
const stopped = new Set<WebPubSubClient>();
const received = new Map<WebPubSubClient, unknown[]>();

beforeAll(async () => {
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/api/events`;
  svc = await startEmbeddedWebPubSub({
    accessKey: KEY,
    eventHandlers: [
      { hub: HUB, url, systemEvents: ['connect', 'connected', 'disconnected'], userEvents: ['big'] },
    ],
  });
  service = new WebPubSubServiceClient(svc.connectionString, HUB, { allowInsecureConnection: true });
});

afterAll(async () => {
  // stop() is ignored while the SDK is between (re)connection attempts: repeat until it stops, and
  // while the service is still up (README caveat).
  for (let i = 0; i < 200 && clients.some((c) => !stopped.has(c)); i++) {
    for (const c of clients) if (!stopped.has(c)) c.stop();
    await sleep(50);
  }
  await svc.close();
  upstream.closeAllConnections();
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
  // The SDK's reliable-protocol sequence-ack loop sleeps 1 s between rounds, even after stop().
  await sleep(1100);
});

async function connect(userId: string): Promise<WebPubSubClient> {
  const { url } = await service.getClientAccessToken({
    userId,
    groups: ['room'],
    roles: ['webpubsub.sendToGroup.room'],
  });
  const client = new WebPubSubClient(url, {
    protocol: WebPubSubJsonReliableProtocol(),
    messageRetryOptions: { maxRetries: 0 },
    keepAliveIntervalInMs: 0,
    keepAliveTimeoutInMs: 0,
  });
  client.on('stopped', () => stopped.add(client));
  const got: unknown[] = [];
  client.on('group-message', (e) => got.push(e.message.data));
  received.set(client, got);
  clients.push(client);
  await client.start();
  return client;
}

async function statsRoute(token?: string): Promise<{ status: number; body: BillingSnapshot | undefined }> {
  const url = `${svc.endpoint}/_embedded/stats`;
  const res = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  return {
    status: res.status,
    body: res.status === 200 ? ((await res.json()) as BillingSnapshot) : undefined,
  };
}

test('three connections: connect + connected upstream calls, a 3 KB group send billed 3 × 2, inbound free', async () => {
  const [a, b, c] = [await connect('a'), await connect('b'), await connect('c')];
  await waitUntil(() => calls.filter((x) => x.event === 'connected').length === 3);
  const afterJoin = svc.billing().hubs[HUB]!;
  expect(afterJoin.upstream.byEvent).toEqual({ connect: 3, connected: 3 });
  // Each call's body is under 2 KB: one billed message each, as the service bills upstream traffic.
  expect(calls.every((x) => x.bytes < 2048)).toBe(true);
  expect(afterJoin.upstream.billedMessages).toBe(6);
  expect(afterJoin.outbound.billedMessages).toBe(0);
  expect(afterJoin.billedMessages).toBe(6);

  svc.resetBilling();
  await service.group('room').sendToAll('x'.repeat(3 * 1024), { contentType: 'text/plain' });
  await waitUntil(() => [a, b, c].every((cl) => received.get(cl)?.length === 1));
  let hub = svc.billing().hubs[HUB]!;
  expect(hub.outbound).toEqual({ messages: 3, bytes: 3 * 3 * 1024, billedMessages: 6 });
  expect(hub.groups.room).toEqual({ sends: 1, messages: 3, bytes: 3 * 3 * 1024, billedMessages: 6 });
  expect(hub.inbound.bytes).toBe(3 * 1024); // the REST send itself
  expect(hub.inbound.billedMessages).toBe(0);
  expect(hub.billedMessages).toBe(6);

  // A client's 1 KB group send reaches all three (itself included): 3 × 1; its frame is free.
  svc.resetBilling();
  await a.sendToGroup('room', 'y'.repeat(1024), 'text');
  await waitUntil(() => [a, b, c].every((cl) => received.get(cl)?.length === 2));
  hub = svc.billing().hubs[HUB]!;
  expect(hub.groups.room?.billedMessages).toBe(3);
  expect(hub.inbound.messages).toBeGreaterThanOrEqual(1);
  expect(hub.billedMessages).toBe(3);
});

test('a 5 KB user event posted to the event handler is billed 3; a disconnect is billed 1', async () => {
  const [a] = clients;
  svc.resetBilling();
  calls.length = 0;
  await a!.sendEvent('big', { blob: 'z'.repeat(5 * 1024 - 11) }, 'json');
  await waitUntil(() => calls.some((x) => x.event === 'big'));
  expect(calls.find((x) => x.event === 'big')?.bytes).toBe(5 * 1024);
  let hub = svc.billing().hubs[HUB]!;
  expect(hub.upstream).toMatchObject({
    messages: 1,
    bytes: 5 * 1024,
    billedMessages: 3,
    byEvent: { big: 1 },
  });

  a!.stop();
  await waitUntil(() => calls.some((x) => x.event === 'disconnected'));
  hub = svc.billing().hubs[HUB]!;
  expect(hub.upstream.byEvent).toEqual({ big: 1, disconnected: 1 });
  expect(hub.billedMessages).toBe(3 + 1);
});

test('the stats route needs a token signed with the access key and answers the same totals', async () => {
  const url = `${svc.endpoint}/_embedded/stats`;
  const exp = Math.floor(Date.now() / 1000) + 60;
  expect((await statsRoute()).status).toBe(401);
  expect((await statsRoute(signJwt({ aud: url, exp }, 'not-the-key'))).status).toBe(401);
  // A token for another route does not open this one.
  expect((await statsRoute(signJwt({ aud: `${svc.endpoint}/api/hubs/${HUB}/:send`, exp }, KEY))).status).toBe(
    401,
  );
  const ok = await statsRoute(signJwt({ aud: url, exp }, KEY));
  expect(ok.status).toBe(200);
  expect(ok.body).toEqual(svc.billing());
  expect(ok.body?.billedMessages).toBeGreaterThan(0);
});
