/**
 * Reliable subprotocol: sequence ids, acknowledgements and session recovery after network drops,
 * driven by the unmodified WebPubSubClient.
 */
import net from 'node:net';
import { WebPubSubServiceClient } from '@azure/web-pubsub';
import { WebPubSubClient, WebPubSubJsonReliableProtocol } from '@azure/web-pubsub-client';
import WebSocket from 'ws';
import {
  startEmbeddedWebPubSub,
  type EmbeddedWebPubSub,
  type EmbeddedWebPubSubOptions,
} from '../../local/webpubsub/server';

const KEY = 'reliable-test-access-key-0123456789abcdefgh';
const HUB = 'meetstream';
const RELIABLE = 'json.reliable.webpubsub.azure.v1';

interface Probe {
  client: WebPubSubClient;
  received: unknown[];
  connectionIds: string[];
  disconnects: number;
}

/** A TCP hop between clients and the service that tests can cut and block, like a flaky network. */
class FlakyNetwork {
  private readonly sockets = new Set<net.Socket>();
  private blocked = false;
  private readonly server: net.Server;

  constructor(targetPort: number) {
    this.server = net.createServer((inbound) => {
      if (this.blocked) return void inbound.destroy();
      const outbound = net.connect(targetPort, '127.0.0.1');
      for (const s of [inbound, outbound]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('close', () => outbound.destroy());
      outbound.on('close', () => inbound.destroy());
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve) =>
      this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as net.AddressInfo).port)),
    );
  }

  /** Drops every connection (no close handshake) and refuses new ones until `restore()`. */
  cut(): void {
    this.blocked = true;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.blocked = false;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

afterAll(async () => {
  // The SDK's sequence-ack loop and recovery back-off sleep 1 s between rounds, even after stop().
  await sleep(1100);
});

async function startService(
  options: Partial<EmbeddedWebPubSubOptions> = {},
): Promise<{ svc: EmbeddedWebPubSub; service: WebPubSubServiceClient }> {
  const svc = await startEmbeddedWebPubSub({ accessKey: KEY, ...options });
  cleanups.push(() => svc.close());
  const service = new WebPubSubServiceClient(svc.connectionString, HUB, { allowInsecureConnection: true });
  return { svc, service };
}

async function reliableClient(url: string): Promise<Probe> {
  const client = new WebPubSubClient(url, {
    protocol: WebPubSubJsonReliableProtocol(),
    keepAliveIntervalInMs: 0,
    keepAliveTimeoutInMs: 0,
    messageRetryOptions: { maxRetries: 0 },
  });
  const p: Probe = { client, received: [], connectionIds: [], disconnects: 0 };
  client.on('group-message', (e) => p.received.push(e.message.data));
  client.on('connected', (e) => p.connectionIds.push(e.connectionId));
  client.on('disconnected', () => p.disconnects++);
  cleanups.push(() => stopClient(client));
  await client.start();
  return p;
}

/**
 * The SDK ignores stop() while it is recovering or between reconnect attempts (and would then
 * reconnect forever), so keep asking until it reports `stopped`. The service must still be up.
 */
async function stopClient(client: WebPubSubClient): Promise<void> {
  let stopped = false;
  client.on('stopped', () => (stopped = true));
  const deadline = Date.now() + 10_000;
  while (!stopped && Date.now() < deadline) {
    client.stop();
    await sleep(50);
  }
}

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

test('a client whose socket is cut while messages flow resumes its session and gets each message once, in order', async () => {
  const { svc, service } = await startService();
  const { url } = await service.getClientAccessToken({ userId: 'r', groups: ['live'] });
  const p = await reliableClient(url);
  const id = p.connectionIds[0] ?? '';
  for (let i = 0; i < 300; i++) {
    if (i === 60 || i === 200) expect(svc.dropSocket(id)).toBe(true);
    // Cut again right after the client resumed, while the redelivery may still be in flight.
    if (i === 62) svc.dropSocket(id);
    await service.group('live').sendToAll({ i });
  }
  await waitFor(() => p.received.length >= 300);
  await sleep(50);
  expect(p.received).toEqual(range(0, 300).map((i) => ({ i })));
  // Same session throughout: no second `connected`, no `disconnected`.
  expect(p.connectionIds).toEqual([id]);
  expect(p.disconnects).toBe(0);
  expect(await service.connectionExists(id)).toBe(true);
});

test('messages sent to its groups while the network is down are delivered after it comes back', async () => {
  const { svc, service } = await startService();
  const network = new FlakyNetwork(svc.port);
  cleanups.push(() => network.close());
  const proxyPort = await network.listen();
  const { url } = await service.getClientAccessToken({ userId: 'r', groups: ['live'] });
  // The token names the service's host; the client reaches it through the flaky hop.
  const p = await reliableClient(url.replace(`:${svc.port}/`, `:${proxyPort}/`));
  const id = p.connectionIds[0] ?? '';

  for (const i of range(0, 20)) await service.group('live').sendToAll({ i });
  network.cut();
  for (const i of range(20, 70)) await service.group('live').sendToAll({ i });
  await sleep(300);
  expect(await service.connectionExists(id)).toBe(true);
  network.restore();
  for (const i of range(70, 100)) await service.group('live').sendToAll({ i });

  await waitFor(() => p.received.length >= 100);
  await sleep(50);
  expect(p.received).toEqual(range(0, 100).map((i) => ({ i })));
  expect(p.connectionIds).toEqual([id]);
  expect(p.disconnects).toBe(0);
});

test('acknowledged messages leave the replay buffer, so a bounded buffer still covers what is unacknowledged', async () => {
  const { svc, service } = await startService({ limits: { replayMessages: 10 } });
  const { url } = await service.getClientAccessToken({ groups: ['g'] });
  const p = await reliableClient(url);
  for (const i of range(0, 8)) await service.group('g').sendToAll({ i });
  // The SDK acknowledges about once a second; allow two rounds.
  await sleep(2200);
  for (const i of range(8, 16)) await service.group('g').sendToAll({ i });
  svc.dropSocket(p.connectionIds[0] ?? '');
  await service.group('g').sendToAll({ i: 16 });
  await waitFor(() => p.received.length >= 17);
  expect(p.received).toEqual(range(0, 17).map((i) => ({ i })));
  expect(p.connectionIds).toHaveLength(1);
});

test('a session whose unacknowledged backlog overflows while the client is away ends; the client starts afresh', async () => {
  const { svc, service } = await startService({ limits: { replayMessages: 10 } });
  const network = new FlakyNetwork(svc.port);
  cleanups.push(() => network.close());
  const proxyPort = await network.listen();
  const { url } = await service.getClientAccessToken({ groups: ['g'] });
  const p = await reliableClient(url.replace(`:${svc.port}/`, `:${proxyPort}/`));
  const id = p.connectionIds[0] ?? '';
  network.cut();
  for (const i of range(0, 11)) await service.group('g').sendToAll({ i });
  expect(await service.connectionExists(id)).toBe(false);
  network.restore();
  await waitFor(() => p.connectionIds.length === 2);
  expect(p.connectionIds[1]).not.toBe(id);
  expect(p.disconnects).toBe(1);
  // The fresh connection is in its token's groups again.
  await service.group('g').sendToAll({ fresh: true });
  await waitFor(() => p.received.some((m) => JSON.stringify(m) === '{"fresh":true}'));
});

test('with an invalid reconnection token the service closes with 1008', async () => {
  const { svc, service } = await startService();
  const { url } = await service.getClientAccessToken({ userId: 'r' });
  const p = await reliableClient(url);
  const id = p.connectionIds[0] ?? '';
  const code = await new Promise<number>((resolve) => {
    const ws = new WebSocket(`${url}&awps_connection_id=${id}&awps_reconnection_token=forged`, RELIABLE);
    ws.on('close', (c) => resolve(c));
    ws.on('error', () => undefined);
  });
  expect(code).toBe(1008);
  // The real session is untouched.
  expect(await service.connectionExists(id)).toBe(true);
  expect(svc.stats().connections).toBe(1);
});

test('when the session cannot be resumed the SDK starts a fresh connection and rejoins its groups', async () => {
  // No recovery window: a dropped session ends at once, so the SDK's resume attempt is refused.
  const { svc, service } = await startService({ recoveryWindowMs: 0 });
  const { url } = await service.getClientAccessToken({ userId: 'r', roles: ['webpubsub.joinLeaveGroup'] });
  const p = await reliableClient(url);
  await p.client.joinGroup('joined-later');
  const id = p.connectionIds[0] ?? '';
  svc.dropSocket(id);
  await waitFor(() => p.connectionIds.length === 2);
  expect(p.connectionIds[1]).not.toBe(id);
  expect(p.disconnects).toBe(1);
  await waitFor(() => svc.stats().groups === 1);
  await service.group('joined-later').sendToAll({ after: 'rejoin' });
  await waitFor(() => p.received.length === 1);
  expect(p.received).toEqual([{ after: 'rejoin' }]);
});

test('a dropped client that never returns is let go after the recovery window', async () => {
  const { svc, service } = await startService({ recoveryWindowMs: 1000 });
  const network = new FlakyNetwork(svc.port);
  cleanups.push(() => network.close());
  const proxyPort = await network.listen();
  const { url } = await service.getClientAccessToken({ userId: 'r', groups: ['g'] });
  const p = await reliableClient(url.replace(`:${svc.port}/`, `:${proxyPort}/`));
  network.cut();
  await sleep(50);
  expect(await service.connectionExists(p.connectionIds[0] ?? '')).toBe(true);
  await waitFor(() => svc.stats().connections === 0);
  expect(await service.groupExists('g')).toBe(false);
  network.restore();
});

/** A hand-driven reliable client: opens, reads frames as JSON, closes with a chosen code. */
function rawReliable(url: string): Promise<{ ws: WebSocket; frames: Array<Record<string, unknown>> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, RELIABLE);
    const frames: Array<Record<string, unknown>> = [];
    ws.on('message', (data) => frames.push(JSON.parse(String(data)) as Record<string, unknown>));
    ws.on('open', () => resolve({ ws, frames }));
    ws.on('error', reject);
    cleanups.push(() => ws.terminate());
  });
}

test('a client that closes with 1001 or 3001 may resume its session; 1000 or no code ends it', async () => {
  const { service } = await startService();
  const closeThenResume = async (code: number | undefined) => {
    const { url } = await service.getClientAccessToken({ userId: `c${String(code)}`, groups: ['room'] });
    const first = await rawReliable(url);
    await waitFor(() => first.frames.some((f) => f.event === 'connected'));
    const connected = first.frames.find((f) => f.event === 'connected')!;
    const closed = new Promise((resolve) => first.ws.on('close', resolve));
    if (code === undefined) first.ws.close();
    else first.ws.close(code);
    await closed;
    await service.group('room').sendToAll({ while: 'away' });
    const base = url.slice(0, url.indexOf('?'));
    const resumeUrl = `${base}?awps_connection_id=${String(connected.connectionId)}&awps_reconnection_token=${encodeURIComponent(String(connected.reconnectionToken))}`;
    const second = new WebSocket(resumeUrl, RELIABLE);
    cleanups.push(() => second.terminate());
    const frames: Array<Record<string, unknown>> = [];
    second.on('message', (d) => frames.push(JSON.parse(String(d)) as Record<string, unknown>));
    const outcome = await new Promise<string>((resolve) => {
      second.on('close', (c) => resolve(`closed ${c}`));
      const timer = setInterval(() => {
        if (frames.some((f) => f.type === 'message')) {
          clearInterval(timer);
          resolve('resumed');
        }
      }, 5);
      second.on('close', () => clearInterval(timer));
    });
    return { outcome, frames };
  };
  for (const code of [1001, 3001]) {
    const { outcome, frames } = await closeThenResume(code);
    expect(outcome).toBe('resumed');
    expect(frames.find((f) => f.type === 'message')).toMatchObject({
      group: 'room',
      data: { while: 'away' },
    });
  }
  for (const code of [1000, undefined]) {
    expect((await closeThenResume(code)).outcome).toBe('closed 1008');
  }
});
