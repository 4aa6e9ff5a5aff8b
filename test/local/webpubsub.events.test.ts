/**
 * Upstream event handler: CloudEvents (binary mode) for connect/connected/disconnected and user
 * events, signed with the access key, without ever holding up message delivery.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebPubSubServiceClient } from '@azure/web-pubsub';
import {
  SendMessageError,
  WebPubSubClient,
  WebPubSubJsonProtocol,
  WebPubSubJsonReliableProtocol,
  type WebPubSubClientOptions,
} from '@azure/web-pubsub-client';
import {
  startEmbeddedWebPubSub,
  type EmbeddedWebPubSub,
  type EventHandlerSettings,
} from '../../local/webpubsub/server';
import { parseEventHandlers } from '../../local/webpubsub/main';

const KEY = 'events-test-access-key-0123456789abcdefghij';
const HUB = 'meetstream';

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Answer = {
  status: number;
  contentType?: string;
  body?: string;
  headers?: Record<string, string | string[]>;
};

/** A stand-in for the product's webhook function. */
class Upstream {
  readonly requests: Received[] = [];
  answer: (r: Received) => Answer = () => ({ status: 200 });
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      this.requests.push(r);
      const a = this.answer(r);
      res.writeHead(a.status, {
        ...a.headers,
        ...(a.contentType === undefined ? {} : { 'content-type': a.contentType }),
      });
      res.end(a.body ?? '');
    });
  });

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/webpubsub/events`;
  }

  ofType(type: string): Received[] {
    return this.requests.filter((r) => r.headers['ce-type'] === type);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

afterAll(async () => {
  // The SDK's reliable-protocol sequence-ack loop sleeps 1 s between rounds, even after stop().
  await sleep(1100);
});

async function setup(
  handler: Partial<EventHandlerSettings> = {},
): Promise<{ svc: EmbeddedWebPubSub; service: WebPubSubServiceClient; upstream: Upstream }> {
  const upstream = new Upstream();
  const url = await upstream.listen();
  cleanups.push(() => upstream.close());
  const svc = await startEmbeddedWebPubSub({
    accessKey: KEY,
    eventHandlers: [{ hub: HUB, url, ...handler }],
  });
  cleanups.push(() => svc.close());
  const service = new WebPubSubServiceClient(svc.connectionString, HUB, { allowInsecureConnection: true });
  return { svc, service, upstream };
}

async function connect(
  service: WebPubSubServiceClient,
  token: { userId?: string; roles?: string[]; groups?: string[] },
  options: WebPubSubClientOptions = {},
): Promise<{ client: WebPubSubClient; connectionId: string; server: unknown[] }> {
  const { url } = await service.getClientAccessToken(token);
  const client = new WebPubSubClient(url, {
    protocol: WebPubSubJsonReliableProtocol(),
    keepAliveIntervalInMs: 0,
    keepAliveTimeoutInMs: 0,
    messageRetryOptions: { maxRetries: 0 },
    ...options,
  });
  const server: unknown[] = [];
  client.on('server-message', (e) => server.push(e.message.data));
  client.on('group-message', (e) => server.push(e.message.data));
  let connectionId = '';
  client.on('connected', (e) => (connectionId = e.connectionId));
  let stopped = false;
  client.on('stopped', () => (stopped = true));
  cleanups.push(async () => {
    // stop() is ignored while the SDK is between (re)connection attempts: repeat until it stops.
    for (let i = 0; i < 200 && !stopped; i++) {
      client.stop();
      await sleep(50);
    }
  });
  await client.start();
  return { client, connectionId, server };
}

function signature(connectionId: string): string {
  return 'sha256=' + createHmac('sha256', KEY).update(connectionId).digest('hex');
}

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

test('connected and disconnected arrive as signed CloudEvents', async () => {
  const { service, upstream } = await setup();
  const { client, connectionId } = await connect(service, { userId: 'ada' });
  await waitFor(() => upstream.ofType('azure.webpubsub.sys.connected').length === 1);
  client.stop();
  await waitFor(() => upstream.ofType('azure.webpubsub.sys.disconnected').length === 1);

  const [connected, disconnected] = upstream.requests;
  for (const r of [connected, disconnected]) {
    expect(r?.method).toBe('POST');
    expect(r?.url).toBe('/api/webpubsub/events');
    expect(r?.headers).toMatchObject({
      'ce-specversion': '1.0',
      'ce-source': `/hubs/${HUB}/client/${connectionId}`,
      'ce-hub': HUB,
      'ce-connectionid': connectionId,
      'ce-userid': 'ada',
      'ce-signature': signature(connectionId),
      'ce-subprotocol': 'json.reliable.webpubsub.azure.v1',
    });
    expect(r?.headers['ce-id']).toEqual(expect.any(String));
    expect(Number.isNaN(Date.parse(String(r?.headers['ce-time'])))).toBe(false);
    expect(r?.headers['webhook-request-origin']).toEqual(expect.any(String));
  }
  expect(connected?.headers['ce-eventname']).toBe('connected');
  expect(disconnected?.headers['ce-eventname']).toBe('disconnected');
  expect(JSON.parse(disconnected?.body ?? '')).toEqual({ reason: expect.any(String) });
});

test('a dropped connection that resumes produces no disconnected event until it really ends', async () => {
  const { svc, service, upstream } = await setup();
  const { client, connectionId } = await connect(service, { userId: 'bo', groups: ['g'] });
  svc.dropSocket(connectionId);
  await service.group('g').sendToAll({ during: 'drop' });
  await waitFor(() => svc.stats().connections === 1 && upstream.requests.length >= 1);
  await sleep(300);
  expect(upstream.requests.map((r) => r.headers['ce-eventname'])).toEqual(['connected']);
  client.stop();
  await waitFor(() => upstream.requests.length === 2);
  expect(upstream.requests.map((r) => r.headers['ce-eventname'])).toEqual(['connected', 'disconnected']);
});

test('user events reach the upstream; its 2xx acks the event and its response body comes back to the sender', async () => {
  const { service, upstream } = await setup({ userEvents: '*' });
  upstream.answer = (r) =>
    r.headers['ce-type'] === 'azure.webpubsub.user.chat'
      ? { status: 200, contentType: 'application/json', body: JSON.stringify({ echo: JSON.parse(r.body) }) }
      : { status: 204 };
  const { client, connectionId, server } = await connect(service, { userId: 'cy' });
  const result = await client.sendEvent('chat', { text: 'hello' }, 'json');
  expect(result.isDuplicated).toBe(false);
  const [chat] = upstream.ofType('azure.webpubsub.user.chat');
  expect(chat?.headers).toMatchObject({
    'ce-eventname': 'chat',
    'ce-connectionid': connectionId,
    'ce-signature': signature(connectionId),
    'content-type': 'application/json; charset=utf-8',
  });
  expect(JSON.parse(chat?.body ?? '')).toEqual({ text: 'hello' });
  await waitFor(() => server.length === 1);
  expect(server).toEqual([{ echo: { text: 'hello' } }]);

  await client.sendEvent('note', 'plain words', 'text');
  const [note] = upstream.ofType('azure.webpubsub.user.note');
  expect(note?.headers['content-type']).toBe('text/plain; charset=utf-8');
  expect(note?.body).toBe('plain words');
});

test('a user event the upstream rejects is acked with an error', async () => {
  const { service, upstream } = await setup({ userEvents: '*' });
  upstream.answer = (r) => ({ status: r.headers['ce-type'] === 'azure.webpubsub.user.bad' ? 400 : 204 });
  const { client } = await connect(service, { userId: 'dee' });
  const err = await client.sendEvent('bad', { x: 1 }, 'json').then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SendMessageError);
  expect((err as SendMessageError).errorDetail?.name).toBe('InternalServerError');
});

test('events the handler is not configured for are not posted, and a user event nothing handles is acked as failed', async () => {
  const { service, upstream } = await setup({ systemEvents: ['disconnected'], userEvents: ['wanted'] });
  const { client } = await connect(service, { userId: 'ed' });
  const err = await client.sendEvent('unwanted', { x: 1 }, 'json').then(
    () => undefined,
    (e: unknown) => e,
  );
  expect((err as SendMessageError).errorDetail?.name).toBe('InternalServerError');
  await client.sendEvent('wanted', { x: 2 }, 'json');
  expect(upstream.requests.map((r) => r.headers['ce-eventname'])).toEqual(['wanted']);
});

test('user events are opt-in: by default only connected and disconnected are posted', async () => {
  const { service, upstream } = await setup();
  const { client } = await connect(service, { userId: 'fay' });
  await expect(client.sendEvent('chat', { x: 1 }, 'json')).rejects.toThrow(SendMessageError);
  client.stop();
  await waitFor(() => upstream.requests.length === 2);
  await sleep(50);
  expect(upstream.requests.map((r) => r.headers['ce-eventname'])).toEqual(['connected', 'disconnected']);
});

test('user ids that are not plain ASCII are percent-encoded in ce-userId', async () => {
  const { service, upstream } = await setup();
  await connect(service, { userId: 'Zoë 50%' });
  await waitFor(() => upstream.requests.length === 1);
  expect(decodeURIComponent(String(upstream.requests[0]?.headers['ce-userid']))).toBe('Zoë 50%');
});

test('an unreachable event handler never holds up connecting or delivery', async () => {
  const dead = http.createServer();
  await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
  const port = (dead.address() as AddressInfo).port;
  await new Promise((resolve) => dead.close(resolve));
  const svc = await startEmbeddedWebPubSub({
    accessKey: KEY,
    eventHandlers: [{ hub: HUB, url: `http://127.0.0.1:${port}/gone` }],
  });
  cleanups.push(() => svc.close());
  const service = new WebPubSubServiceClient(svc.connectionString, HUB, { allowInsecureConnection: true });
  const started = Date.now();
  const { server } = await connect(service, { groups: ['g'] });
  await service.group('g').sendToAll({ n: 1 });
  await waitFor(() => server.length === 1);
  expect(Date.now() - started).toBeLessThan(1000);
});

test('the blocking connect event can refuse a client or set its identity and groups', async () => {
  const { service, upstream } = await setup({ systemEvents: ['connect', 'connected'] });
  upstream.answer = (r) => {
    if (r.headers['ce-eventname'] !== 'connect') return { status: 204 };
    const body = JSON.parse(r.body) as { claims: Record<string, string[]> };
    if (body.claims.sub?.[0] === 'banned') return { status: 401 };
    return {
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify({ userId: 'renamed', groups: ['assigned'] }),
    };
  };
  const { url } = await service.getClientAccessToken({ userId: 'banned' });
  const refused = new WebPubSubClient(url, { keepAliveIntervalInMs: 0, keepAliveTimeoutInMs: 0 });
  await expect(refused.start()).rejects.toThrow();

  const { server } = await connect(service, { userId: 'fine' });
  expect(await service.userExists('renamed')).toBe(true);
  await service.group('assigned').sendToAll({ to: 'assigned' });
  await waitFor(() => server.length === 1);
  await waitFor(() => upstream.ofType('azure.webpubsub.sys.connected').length === 1);
  expect(upstream.ofType('azure.webpubsub.sys.connected')[0]?.headers['ce-userid']).toBe('renamed');
});

test('closing the service ends live sessions, tells their clients and reports them disconnected', async () => {
  const { svc, service, upstream } = await setup();
  const { url } = await service.getClientAccessToken({ userId: 'last' });
  const client = new WebPubSubClient(url, {
    protocol: WebPubSubJsonProtocol(),
    autoReconnect: false,
    keepAliveIntervalInMs: 0,
    keepAliveTimeoutInMs: 0,
  });
  let reason: string | undefined;
  let stopped = false;
  client.on('disconnected', (e) => (reason = e.message?.message));
  client.on('stopped', () => (stopped = true));
  await client.start();
  await waitFor(() => upstream.requests.length === 1);
  await svc.close();
  expect(stopped).toBe(true);
  expect(reason).toBe('The service is shutting down.');
  expect(upstream.requests.map((r) => r.headers['ce-eventname'])).toEqual(['connected', 'disconnected']);
});

test('a system event is posted once, as the service does; a user event is retried on 5xx with the same ce-id', async () => {
  const { service, upstream } = await setup({ systemEvents: ['connected'], userEvents: '*' });
  upstream.answer = () => ({ status: 503 });
  const { client } = await connect(service, { userId: 'flaky' });
  await waitFor(() => upstream.requests.length === 1);
  await sleep(1500); // the old embedded hub retried `connected` after 200 ms and 1 s
  expect(upstream.requests).toHaveLength(1);

  let failures = 1;
  upstream.answer = () => (failures-- > 0 ? { status: 503 } : { status: 204 });
  await client.sendEvent('retried', { n: 1 }, 'json');
  const attempts = upstream.ofType('azure.webpubsub.user.retried');
  expect(attempts).toHaveLength(2);
  expect(attempts[0]?.headers['ce-id']).toBe(attempts[1]?.headers['ce-id']);
});

test('the connect answer sets a connection state that comes back on every later event of that connection', async () => {
  const { service, upstream } = await setup({
    systemEvents: ['connect', 'connected', 'disconnected'],
    userEvents: '*',
  });
  upstream.answer = (r) => {
    const event = r.headers['ce-eventname'];
    if (event === 'connect') return { status: 204, headers: { 'ce-connectionState': 'c3RhdGUtMQ==' } };
    if (event === 'reset') return { status: 204, headers: { 'ce-connectionState': 'c3RhdGUtMg==' } };
    if (event === 'clear') return { status: 204, headers: { 'ce-connectionState': '' } };
    return { status: 204 };
  };
  const { client } = await connect(service, { userId: 'stateful' });
  await client.sendEvent('ping', { n: 1 }, 'json');
  await client.sendEvent('reset', { n: 2 }, 'json');
  await client.sendEvent('after-reset', { n: 3 }, 'json');
  await client.sendEvent('clear', { n: 4 }, 'json');
  await client.sendEvent('after-clear', { n: 5 }, 'json');
  client.stop();
  await waitFor(() => upstream.ofType('azure.webpubsub.sys.disconnected').length === 1);
  expect(upstream.requests.map((r) => [r.headers['ce-eventname'], r.headers['ce-connectionstate']])).toEqual([
    ['connect', undefined],
    ['connected', 'c3RhdGUtMQ=='],
    ['ping', 'c3RhdGUtMQ=='],
    ['reset', 'c3RhdGUtMQ=='],
    ['after-reset', 'c3RhdGUtMg=='],
    ['clear', 'c3RhdGUtMg=='],
    ['after-clear', ''],
    ['disconnected', ''],
  ]);
});

test('a connect answer with two connection-state headers refuses the client', async () => {
  const { service, upstream } = await setup({ systemEvents: ['connect', 'connected'] });
  upstream.answer = () => ({ status: 204, headers: { 'ce-connectionState': ['YQ==', 'Yg=='] } });
  const { url } = await service.getClientAccessToken({ userId: 'twice' });
  const client = new WebPubSubClient(url, {
    autoReconnect: false,
    keepAliveIntervalInMs: 0,
    keepAliveTimeoutInMs: 0,
  });
  await expect(client.start()).rejects.toThrow();
  expect(upstream.ofType('azure.webpubsub.sys.connected')).toHaveLength(0);
});

test('the stand-alone hub can be configured to forward user events, as the portal user event pattern does', () => {
  expect(parseEventHandlers('meetstream=http://h/e', 'connect,connected', 'chat, typing')).toEqual([
    {
      hub: 'meetstream',
      url: 'http://h/e',
      systemEvents: ['connect', 'connected'],
      userEvents: ['chat', 'typing'],
    },
  ]);
  expect(parseEventHandlers('a=http://h/e', undefined, '*')).toEqual([
    { hub: 'a', url: 'http://h/e', userEvents: '*' },
  ]);
  expect(parseEventHandlers('a=http://h/e')).toEqual([{ hub: 'a', url: 'http://h/e' }]);
  expect(() => parseEventHandlers('a=http://h/e', undefined, 'bad name')).toThrow(/USER_EVENTS/);
});
