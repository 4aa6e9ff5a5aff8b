/**
 * Embedded Web PubSub against the unmodified Azure SDKs: REST auth, token roles and groups, fan-out,
 * connection management. Reliable reconnection, upstream events and scale have their own files.
 */
import { WebPubSubServiceClient } from '@azure/web-pubsub';
import {
  SendMessageError,
  WebPubSubClient,
  WebPubSubJsonProtocol,
  WebPubSubJsonReliableProtocol,
  type WebPubSubClientOptions,
} from '@azure/web-pubsub-client';
import WebSocket from 'ws';
import { signJwt } from '../../local/webpubsub/auth';
import { startEmbeddedWebPubSub, type EmbeddedWebPubSub } from '../../local/webpubsub/server';

const KEY = 'local-test-access-key-0123456789abcdefghijkl';
const HUB = 'meetstream';

interface Probe {
  client: WebPubSubClient;
  /** `data` of every message, server or group, in arrival order. */
  received: unknown[];
  /** `data` of every server message (REST sends to all, a user or a connection). */
  server: unknown[];
  /** Group messages: REST group sends (no `fromUserId`) and messages from other clients. */
  group: Array<{ group: string; data: unknown; fromUserId?: string }>;
  connectionIds: string[];
  disconnects: number;
  stopped: boolean;
}

const probes: Probe[] = [];
let svc: EmbeddedWebPubSub;
let service: WebPubSubServiceClient;

beforeAll(async () => {
  svc = await startEmbeddedWebPubSub({ accessKey: KEY });
  service = new WebPubSubServiceClient(svc.connectionString, HUB, { allowInsecureConnection: true });
});

afterEach(async () => {
  await Promise.all(probes.splice(0).map((p) => stopClient(p)));
  await waitFor(() => svc.stats().connections === 0);
});

afterAll(async () => {
  await svc.close();
  // The SDK's reliable-protocol sequence-ack loop sleeps 1 s between rounds, even after stop().
  await sleep(1100);
});

function probe(url: string, options: WebPubSubClientOptions = {}): Probe {
  const client = new WebPubSubClient(url, {
    protocol: WebPubSubJsonProtocol(),
    keepAliveIntervalInMs: 0,
    keepAliveTimeoutInMs: 0,
    messageRetryOptions: { maxRetries: 0 },
    ...options,
  });
  const p: Probe = {
    client,
    received: [],
    server: [],
    group: [],
    connectionIds: [],
    disconnects: 0,
    stopped: false,
  };
  client.on('server-message', (e) => {
    p.server.push(e.message.data);
    p.received.push(e.message.data);
  });
  client.on('group-message', (e) => {
    p.group.push({ group: e.message.group, data: e.message.data, fromUserId: e.message.fromUserId });
    p.received.push(e.message.data);
  });
  client.on('connected', (e) => p.connectionIds.push(e.connectionId));
  client.on('disconnected', () => p.disconnects++);
  client.on('stopped', () => (p.stopped = true));
  probes.push(p);
  return p;
}

/**
 * The SDK ignores stop() while it is recovering or between reconnect attempts (and would then
 * reconnect forever), so keep asking until it reports `stopped`.
 */
async function stopClient(p: Probe): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!p.stopped && Date.now() < deadline) {
    p.client.stop();
    await sleep(20);
  }
}

async function connect(
  token: { userId?: string; roles?: string[]; groups?: string[] },
  options?: WebPubSubClientOptions,
): Promise<Probe> {
  const { url } = await service.getClientAccessToken(token);
  const p = probe(url, options);
  await p.client.start();
  return p;
}

/** Asserts that the SDK cannot connect with this URL. */
async function expectRefused(url: string): Promise<void> {
  const p = probe(url);
  await expect(p.client.start()).rejects.toThrow();
  p.stopped = true; // a failed start() leaves the client stopped without emitting `stopped`
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

/** Lets in-flight frames arrive before asserting that something did NOT happen. */
async function settle(): Promise<void> {
  await service.connectionExists('flush');
  await sleep(50);
}

function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

describe('client access tokens', () => {
  test('the SDK builds the client URL on this server from the http endpoint and port', async () => {
    const { url, baseUrl } = await service.getClientAccessToken();
    expect(baseUrl).toBe(`ws://127.0.0.1:${svc.port}/client/hubs/${HUB}`);
    expect(url.startsWith(`${baseUrl}?access_token=`)).toBe(true);
  });

  test('a client with a valid token is told its connection id and user id', async () => {
    const p = await connect({ userId: 'alice' });
    expect(p.connectionIds).toHaveLength(1);
    expect(await service.connectionExists(p.connectionIds[0] ?? '')).toBe(true);
    expect(await service.userExists('alice')).toBe(true);
  });

  test('an expired token is refused', async () => {
    const { url } = await service.getClientAccessToken({ userId: 'late', expirationTimeInMinutes: -1 });
    await expectRefused(url);
    expect(svc.stats().connections).toBe(0);
  });

  test('a token signed with another key is refused', async () => {
    const other = new WebPubSubServiceClient(
      `Endpoint=${svc.endpoint};AccessKey=not-the-right-key;Version=1.0;`,
      HUB,
      { allowInsecureConnection: true },
    );
    const { url } = await other.getClientAccessToken({ userId: 'mallory' });
    await expectRefused(url);
  });

  test('a token issued for another hub is refused', async () => {
    const otherHub = new WebPubSubServiceClient(svc.connectionString, 'otherhub', {
      allowInsecureConnection: true,
    });
    const { token } = await otherHub.getClientAccessToken({ userId: 'bob' });
    await expectRefused(`ws://127.0.0.1:${svc.port}/client/hubs/${HUB}?access_token=${token}`);
  });

  test('refused upgrades are answered with HTTP 401', async () => {
    const token = signJwt(
      { aud: `${svc.endpoint}/client/hubs/${HUB}`, exp: Math.floor(Date.now() / 1000) - 10 },
      KEY,
    );
    const status = await new Promise<number | undefined>((resolve) => {
      const ws = new WebSocket(
        `ws://127.0.0.1:${svc.port}/client/hubs/${HUB}?access_token=${token}`,
        JSON_PROTOCOL,
      );
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode);
        ws.terminate();
      });
      ws.on('open', () => resolve(undefined));
      ws.on('error', () => undefined);
    });
    expect(status).toBe(401);
  });

  test('a token accepted for any host the client used (localhost vs 127.0.0.1)', async () => {
    const viaLocalhost = new WebPubSubServiceClient(
      `Endpoint=http://localhost:${svc.port};AccessKey=${KEY};Version=1.0;`,
      HUB,
      { allowInsecureConnection: true },
    );
    const { token } = await viaLocalhost.getClientAccessToken({ userId: 'carol' });
    const p = probe(`ws://127.0.0.1:${svc.port}/client/hubs/${HUB}?access_token=${token}`);
    await p.client.start();
    expect(p.connectionIds).toHaveLength(1);
  });
});

const JSON_PROTOCOL = 'json.webpubsub.azure.v1';

describe('roles and groups from the token', () => {
  test('a client allowed to join only group A is Forbidden to join B and receives nothing sent to B', async () => {
    const p = await connect({ userId: 'u1', roles: ['webpubsub.joinLeaveGroup.A'] });
    await p.client.joinGroup('A');
    const err = await rejection(p.client.joinGroup('B'));
    expect(err).toBeInstanceOf(SendMessageError);
    expect((err as SendMessageError).errorDetail?.name).toBe('Forbidden');

    const sender = await connect({ userId: 'u2', roles: ['webpubsub.sendToGroup'] });
    await service.group('B').sendToAll({ secret: 1 });
    await sender.client.sendToGroup('B', 'psst', 'text');
    await service.group('A').sendToAll({ hello: 'A' });
    await waitFor(() => p.received.length === 1);
    await settle();
    // A REST group send arrives as a group message naming the group, with no sender.
    expect(p.group).toEqual([{ group: 'A', data: { hello: 'A' }, fromUserId: undefined }]);
    expect(p.server).toEqual([]);
  });

  test('groups in the token are joined on connect', async () => {
    const p = await connect({ userId: 'u1', groups: ['meeting-1'] });
    expect(await service.groupExists('meeting-1')).toBe(true);
    await service.group('meeting-1').sendToAll({ n: 1 });
    await waitFor(() => p.received.length === 1);
    // Joined by token, but the token gives no right to leave.
    const err = await rejection(p.client.leaveGroup('meeting-1'));
    expect((err as SendMessageError).errorDetail?.name).toBe('Forbidden');
  });

  test('a token without sendToGroup cannot send to a group it is in', async () => {
    const member = await connect({ userId: 'm', groups: ['room'] });
    const mute = await connect({ userId: 'mute', groups: ['room'] });
    const err = await rejection(mute.client.sendToGroup('room', { hi: 1 }, 'json'));
    expect((err as SendMessageError).errorDetail?.name).toBe('Forbidden');
    await settle();
    expect(member.group).toEqual([]);
  });

  test('a scoped sendToGroup role allows exactly that group', async () => {
    const listener = await connect({ userId: 'l', groups: ['room', 'other'] });
    const talker = await connect({ userId: 't', roles: ['webpubsub.sendToGroup.room'] });
    await talker.client.sendToGroup('room', { hi: 1 }, 'json');
    const err = await rejection(talker.client.sendToGroup('other', { hi: 2 }, 'json'));
    expect((err as SendMessageError).errorDetail?.name).toBe('Forbidden');
    await waitFor(() => listener.group.length === 1);
    expect(listener.group).toEqual([{ group: 'room', data: { hi: 1 }, fromUserId: 't' }]);
  });

  test('noEcho keeps a sender from receiving its own group message', async () => {
    const roles = ['webpubsub.sendToGroup', 'webpubsub.joinLeaveGroup'];
    const a = await connect({ userId: 'a', roles, groups: ['g'] });
    const b = await connect({ userId: 'b', roles, groups: ['g'] });
    await a.client.sendToGroup('g', 'echo', 'text');
    await a.client.sendToGroup('g', 'no echo', 'text', { noEcho: true });
    await waitFor(() => b.group.length === 2);
    await settle();
    expect(a.group.map((m) => m.data)).toEqual(['echo']);
    expect(b.group.map((m) => m.data)).toEqual(['echo', 'no echo']);
  });

  test('permissions granted and revoked over REST take effect on the live connection', async () => {
    const p = await connect({ userId: 'p' });
    const id = p.connectionIds[0] ?? '';
    await service.grantPermission(id, 'joinLeaveGroup', { targetName: 'late' });
    expect(await service.hasPermission(id, 'joinLeaveGroup', { targetName: 'late' })).toBe(true);
    await p.client.joinGroup('late');
    await service.revokePermission(id, 'joinLeaveGroup', { targetName: 'late' });
    expect(await service.hasPermission(id, 'joinLeaveGroup', { targetName: 'late' })).toBe(false);
    const err = await rejection(p.client.leaveGroup('late'));
    expect((err as SendMessageError).errorDetail?.name).toBe('Forbidden');
  });
});

describe('REST API', () => {
  test('calls signed with the wrong key are rejected with 401', async () => {
    const wrong = new WebPubSubServiceClient(
      `Endpoint=${svc.endpoint};AccessKey=wrong-key;Version=1.0;`,
      HUB,
      {
        allowInsecureConnection: true,
      },
    );
    await expect(wrong.sendToAll({ x: 1 })).rejects.toMatchObject({ statusCode: 401 });
    await expect(wrong.group('g').addConnection('c')).rejects.toMatchObject({ statusCode: 401 });
  });

  test('calls without a token, with an expired token or for another URL are rejected with 401', async () => {
    const url = `${svc.endpoint}/api/hubs/${HUB}/:send?api-version=2024-12-01`;
    const post = (authorization?: string): Promise<number> =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body: '{}',
      }).then((r) => r.status);
    const now = Math.floor(Date.now() / 1000);
    expect(await post()).toBe(401);
    expect(await post(`Bearer ${signJwt({ aud: url, exp: now - 5 }, KEY)}`)).toBe(401);
    expect(await post(`Bearer ${signJwt({ aud: `${url}x`, exp: now + 60 }, KEY)}`)).toBe(401);
    expect(await post(`Bearer ${signJwt({ aud: url, exp: now + 60 }, KEY)}`)).toBe(202);
  });

  test('a group send reaches exactly the group members, JSON and text, in order', async () => {
    const a1 = await connect({ userId: 'a1', groups: ['A'] });
    const a2 = await connect({ userId: 'a2', groups: ['A'] }, { protocol: WebPubSubJsonReliableProtocol() });
    const b = await connect({ userId: 'b', groups: ['B'] });
    const expected: unknown[] = [];
    for (let i = 0; i < 40; i++) {
      if (i % 3 === 0) {
        await service.group('A').sendToAll(`text ${i}`, { contentType: 'text/plain' });
        expected.push(`text ${i}`);
      } else if (i % 3 === 1) {
        await service.group('A').sendToAll({ i, nested: { quote: '"', unicode: 'é€' } });
        expected.push({ i, nested: { quote: '"', unicode: 'é€' } });
      } else {
        await service.group('A').sendToAll([{ i }, { i: i + 0.5 }]);
        expected.push([{ i }, { i: i + 0.5 }]);
      }
    }
    await waitFor(() => a1.received.length === 40 && a2.received.length === 40);
    await settle();
    expect(a1.received).toEqual(expected);
    expect(a2.received).toEqual(expected);
    expect(b.received).toEqual([]);
  });

  test('an invalid filter is refused with 400 even when no connection would receive the message', async () => {
    const empty = new WebPubSubServiceClient(svc.connectionString, 'nobody_here', {
      allowInsecureConnection: true,
    });
    await expect(empty.sendToAll({ x: 1 }, { filter: "userId eq 'unclosed" })).rejects.toMatchObject({
      statusCode: 400,
    });
    await expect(empty.group('g').sendToAll({ x: 1 }, { filter: 'not a filter (' })).rejects.toMatchObject({
      statusCode: 400,
    });
    await expect(empty.sendToUser('u', { x: 1 }, { filter: "groups eq 'x' and" })).rejects.toMatchObject({
      statusCode: 400,
    });
    await empty.sendToAll({ x: 1 }, { filter: "userId eq 'someone'" });
  });

  test('a group member list comes in pages of maxPageSize, top caps it, and no member is skipped or repeated', async () => {
    const members = await Promise.all(
      Array.from({ length: 5 }, (_, i) => connect({ userId: `m${i}`, groups: ['paged'] })),
    );
    const ids = members.map((m) => m.connectionIds[0]).sort();
    const pages: string[][] = [];
    for await (const page of (await service.group('paged').listConnections({ maxPageSize: 2 })).byPage())
      pages.push(page.map((m) => m.connectionId));
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    expect(pages.flat().sort()).toEqual(ids);
    const capped: string[] = [];
    for await (const m of await service.group('paged').listConnections({ maxPageSize: 2, top: 3 }))
      capped.push(m.connectionId);
    expect(capped).toHaveLength(3);
    expect(new Set(capped).size).toBe(3);
  });

  test('sendToAll honours excluded connections and filters', async () => {
    const x = await connect({ userId: 'x', groups: ['vip'] });
    const y = await connect({ userId: 'y' });
    const z = await connect({ userId: 'z' });
    await service.sendToAll({ to: 'all-but-x' }, { excludedConnections: [x.connectionIds[0] ?? ''] });
    await service.sendToAll({ to: 'vip' }, { filter: "'vip' in groups" });
    await service.sendToAll({ to: 'not z' }, { filter: "userId ne 'z' and not('vip' in groups)" });
    await waitFor(() => x.received.length === 1 && y.received.length === 2 && z.received.length === 1);
    await settle();
    expect(x.received).toEqual([{ to: 'vip' }]);
    expect(y.received).toEqual([{ to: 'all-but-x' }, { to: 'not z' }]);
    expect(z.received).toEqual([{ to: 'all-but-x' }]);
  });

  test('sendToUser and sendToConnection target the right connections', async () => {
    const u1a = await connect({ userId: 'u1' });
    const u1b = await connect({ userId: 'u1' });
    const u2 = await connect({ userId: 'u2' });
    await service.sendToUser('u1', { to: 'u1' });
    await service.sendToConnection(u2.connectionIds[0] ?? '', 'just you', { contentType: 'text/plain' });
    await waitFor(() => u1a.received.length === 1 && u1b.received.length === 1 && u2.received.length === 1);
    expect(u2.received).toEqual(['just you']);
  });

  test('connections are added to and removed from groups by id', async () => {
    const p = await connect({ userId: 'p' });
    const id = p.connectionIds[0] ?? '';
    await service.group('g1').addConnection(id);
    expect(await service.groupExists('g1')).toBe(true);
    await service.group('g1').sendToAll({ n: 1 });
    await service.group('g1').removeConnection(id);
    await service.group('g1').sendToAll({ n: 2 });
    await waitFor(() => p.received.length === 1);
    await settle();
    expect(p.received).toEqual([{ n: 1 }]);
    expect(await service.groupExists('g1')).toBe(false);
    await expect(service.group('g1').addConnection('no-such-connection')).rejects.toMatchObject({
      statusCode: 404,
    });
  });

  test('a user added to a group joins with every connection, including later ones', async () => {
    const first = await connect({ userId: 'dana' });
    await service.group('team').addUser('dana');
    const second = await connect({ userId: 'dana' });
    await service.group('team').sendToAll({ n: 1 });
    await waitFor(() => first.received.length === 1 && second.received.length === 1);
    await service.removeUserFromAllGroups('dana');
    await service.group('team').sendToAll({ n: 2 });
    await service.group('solo').addUser('dana');
    await service.group('solo').removeUser('dana');
    await service.group('solo').sendToAll({ n: 3 });
    await settle();
    expect(first.received).toEqual([{ n: 1 }]);
    expect(second.received).toEqual([{ n: 1 }]);
    expect(await service.groupExists('team')).toBe(false);
  });

  test('group members can be listed', async () => {
    const p = await connect({ userId: 'lister', groups: ['listed'] });
    const members = [];
    for await (const m of await service.group('listed').listConnections()) members.push(m);
    expect(members).toEqual([{ connectionId: p.connectionIds[0], userId: 'lister' }]);
  });

  test('invalid JSON bodies are rejected with 400 and deliver nothing', async () => {
    const url = `${svc.endpoint}/api/hubs/${HUB}/:send?api-version=2024-12-01`;
    const token = signJwt({ aud: url, exp: Math.floor(Date.now() / 1000) + 60 }, KEY);
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: '{"broken":',
    });
    expect(res.status).toBe(400);
  });
});

describe('closing connections', () => {
  test('closeConnection closes a client for good: it is told why and does not resume', async () => {
    const p = await connect(
      { userId: 'gone' },
      { protocol: WebPubSubJsonReliableProtocol(), autoReconnect: false },
    );
    let reason: string | undefined;
    p.client.on('disconnected', (e) => (reason = e.message?.message));
    const id = p.connectionIds[0] ?? '';
    await service.closeConnection(id, { reason: 'kicked' });
    await waitFor(() => p.stopped);
    expect(reason).toBe('kicked');
    expect(await service.connectionExists(id)).toBe(false);
  });

  test('closeUserConnections ends every session of the user; an auto-reconnecting client comes back as a new connection', async () => {
    const a = await connect({ userId: 'eve', groups: ['g'] }, { protocol: WebPubSubJsonReliableProtocol() });
    const b = await connect({ userId: 'eve' }, { autoReconnect: false });
    const oldId = a.connectionIds[0] ?? '';
    await service.closeUserConnections('eve');
    await waitFor(() => b.stopped && a.connectionIds.length === 2);
    expect(a.connectionIds[1]).not.toBe(oldId);
    expect(await service.connectionExists(oldId)).toBe(false);
  });

  test('closeGroupConnections and closeAllConnections close their targets', async () => {
    const inGroup = await connect({ userId: 'g1', groups: ['doomed'] }, { autoReconnect: false });
    const outside = await connect({ userId: 'g2' }, { autoReconnect: false });
    await service.group('doomed').closeAllConnections();
    await waitFor(() => inGroup.stopped);
    expect(outside.stopped).toBe(false);
    await service.closeAllConnections();
    await waitFor(() => outside.stopped);
    expect(svc.stats().connections).toBe(0);
  });
});

describe('wire protocol details', () => {
  test('a forbidden request without ackId is fire-and-forget, as documented: dropped, connection kept', async () => {
    const { url } = await service.getClientAccessToken({ roles: ['webpubsub.joinLeaveGroup.mine'] });
    const ws = new WebSocket(url, JSON_PROTOCOL);
    const frames: Array<Record<string, unknown>> = [];
    ws.on('message', (data: Buffer) =>
      frames.push(JSON.parse(data.toString('utf8')) as Record<string, unknown>),
    );
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify({ type: 'joinGroup', group: 'theirs' }));
    ws.send(JSON.stringify({ type: 'sendToGroup', group: 'theirs', dataType: 'text', data: 'x' }));
    ws.send(JSON.stringify({ type: 'ping' }));
    await waitFor(() => frames.some((f) => f.type === 'pong'));
    // The concept doc: without ackId "even if there are errors, you have no way to get notified".
    expect(frames.map((f) => f.type)).toEqual(['system', 'pong']);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(await service.groupExists('theirs')).toBe(false);
    ws.close();
  });

  test('a simple WebSocket client (no subprotocol) receives raw frames', async () => {
    const { url } = await service.getClientAccessToken({ groups: ['raw'] });
    const ws = new WebSocket(url);
    const frames: Array<{ text: string; binary: boolean }> = [];
    ws.on('message', (data: Buffer, isBinary) =>
      frames.push({ text: data.toString('utf8'), binary: isBinary }),
    );
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    await waitFor(() => svc.stats().connections === 1);
    await service.group('raw').sendToAll({ a: 1 });
    await service.group('raw').sendToAll('plain', { contentType: 'text/plain' });
    await service.group('raw').sendToAll(new Uint8Array([104, 105]));
    await waitFor(() => frames.length === 3);
    expect(frames).toEqual([
      { text: '{"a":1}', binary: false },
      { text: 'plain', binary: false },
      { text: 'hi', binary: true },
    ]);
    ws.close();
  });

  test('ping is answered with pong and the subprotocol is echoed', async () => {
    const { url } = await service.getClientAccessToken();
    const ws = new WebSocket(url, JSON_PROTOCOL);
    const frames: unknown[] = [];
    ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString('utf8'))));
    await new Promise((resolve) => ws.once('open', resolve));
    expect(ws.protocol).toBe(JSON_PROTOCOL);
    ws.send(JSON.stringify({ type: 'ping' }));
    await waitFor(() => frames.length === 2);
    expect(frames[0]).toMatchObject({ type: 'system', event: 'connected' });
    expect(frames[0]).not.toHaveProperty('reconnectionToken');
    expect(frames[1]).toEqual({ type: 'pong' });
    ws.close();
  });

  test('a repeated ackId is answered as Duplicate in reliable mode and sent only once', async () => {
    const roles = ['webpubsub.sendToGroup'];
    const listener = await connect({ userId: 'l', groups: ['d'] });
    const sender = await connect({ userId: 's', roles }, { protocol: WebPubSubJsonReliableProtocol() });
    const first = await sender.client.sendToGroup('d', { n: 1 }, 'json', { ackId: 42 });
    const again = await sender.client.sendToGroup('d', { n: 1 }, 'json', { ackId: 42 });
    expect(first.isDuplicated).toBe(false);
    expect(again.isDuplicated).toBe(true);
    await settle();
    expect(listener.group).toHaveLength(1);
  });

  test('binary group messages from a client arrive as ArrayBuffers', async () => {
    const listener = await connect({ userId: 'l', groups: ['bin'] });
    let received: ArrayBuffer | undefined;
    listener.client.on('group-message', (e) => {
      if (e.message.dataType === 'binary') received = e.message.data as ArrayBuffer;
    });
    const sender = await connect({ userId: 's', roles: ['webpubsub.sendToGroup.bin'] });
    await sender.client.sendToGroup('bin', new Uint8Array([1, 2, 255]).buffer, 'binary');
    await waitFor(() => received !== undefined);
    expect([...new Uint8Array(received ?? new ArrayBuffer(0))]).toEqual([1, 2, 255]);
  });

  test('stats count connections and non-empty groups', async () => {
    await connect({ userId: 's1', groups: ['x', 'y'] });
    await connect({ userId: 's2', groups: ['y'] });
    expect(svc.stats()).toEqual({ connections: 2, groups: 2 });
  });
});
