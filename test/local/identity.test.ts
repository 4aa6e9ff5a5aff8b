/**
 * The identity path end to end, offline: the services are built from identity-only settings with a
 * credential that gets tokens from a test Entra (RSA key, JWKS on a loopback port), and the
 * official SDKs talk to the embedded Cosmos DB and Web PubSub over TLS (a certificate made for
 * this run; only our agent trusts it) with `Authorization: type=aad…` and `Authorization: Bearer…`,
 * which the servers check: forged, expired and wrongly addressed tokens are refused. Negotiate
 * goes through the service's `:generateToken`, and the URL it returns works for a client.
 */
import * as https from 'node:https';
import type { TokenCredential } from '@azure/core-auth';
import { CosmosClient } from '@azure/cosmos';
import { WebPubSubServiceClient } from '@azure/web-pubsub';
import { generate } from 'selfsigned';
import WebSocket from 'ws';
import { ensureCosmosResources } from '../../lib/adapters/cosmos';
import { readConfig } from '../../lib/config';
import { createServices, type Services } from '../../lib/services';
import { type EmbeddedCosmos, startEmbeddedCosmos } from '../../local/cosmos/server';
import { type EmbeddedWebPubSub, startEmbeddedWebPubSub } from '../../local/webpubsub/server';
import { newTestKey, signRs256, startTestEntra, TestCredential, type TestEntra } from '../support/entra';

let entra: TestEntra;
let tls: { key: string; cert: string };
let agent: https.Agent;
let cosmos: EmbeddedCosmos;
let wps: EmbeddedWebPubSub;
let credential: TestCredential;
let services: Services;
const clients: Array<{ dispose(): void }> = [];

beforeAll(async () => {
  entra = await startTestEntra();
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 7, ip: '127.0.0.1' },
          { type: 2, value: 'localhost' },
        ],
      },
    ],
  });
  tls = { key: pems.private, cert: pems.cert };
  // Trust is given to these clients only; nothing turns certificate checks off process-wide.
  agent = new https.Agent({ ca: tls.cert, keepAlive: true });
  const trust = { jwksUri: entra.jwksUri, issuers: [entra.issuer] };
  cosmos = await startEmbeddedCosmos({ port: 0, tls, entra: trust });
  wps = await startEmbeddedWebPubSub({
    port: 0,
    accessKey: 'internal-signing-key-0123456789',
    tls,
    entra: trust,
  });
  credential = new TestCredential(entra);
  const config = readConfig({
    CosmosDBConnection__accountEndpoint: cosmos.endpoint,
    CosmosDBConnection__credential: 'managedidentity',
    CosmosDBConnection__clientId: '11111111-2222-4333-8444-555555555555',
    WebPubSubConnection__endpoint: wps.endpoint,
    WebPubSubConnection__credential: 'managedidentity',
    WEBPUBSUB_HUB: 'meetstream',
    WEBPUBSUB_EVENT_HANDLER_AUDIENCE: 'api://meetstream-events',
    ENTRA_JWKS_URI: entra.jwksUri,
    ENTRA_ISSUER: entra.issuer,
    MEETSTREAM_TOKEN_SECRET: 'identity-test-secret-0123456789-abcdef',
  });
  services = createServices(config, { credential, agent });
  clients.push(services.cosmos.client);
});

afterAll(async () => {
  for (const c of clients) c.dispose();
  agent.destroy();
  await Promise.all([cosmos?.close(), wps?.close(), entra?.close()]);
});

const cosmosWith = (cred: TokenCredential) => {
  const client = new CosmosClient({
    endpoint: cosmos.endpoint,
    aadCredentials: cred,
    agent,
    connectionPolicy: { requestTimeout: 5000, enableEndpointDiscovery: false },
  });
  clients.push(client);
  return client;
};
const wpsWith = (cred: TokenCredential) =>
  new WebPubSubServiceClient(wps.endpoint, cred, 'meetstream', {
    retryOptions: { maxRetries: 0 },
    additionalPolicies: [
      {
        position: 'perCall',
        policy: { name: 'agent', sendRequest: (req, next) => next(Object.assign(req, { agent })) },
      },
    ],
  });
/** A credential that answers every scope with `token(scope)`. */
const fixed = (token: (audience: string) => string): TokenCredential => ({
  getToken: (scopes) => {
    const scope = Array.isArray(scopes) ? (scopes[0] ?? '') : scopes;
    return Promise.resolve({
      token: token(scope.replace(/\/\.default$/, '')),
      expiresOnTimestamp: Date.now() + 3_600_000,
    });
  },
});
const forger = newTestKey('test-key-1');
const forged = (audience: string) => {
  const now = Math.floor(Date.now() / 1000);
  return signRs256({ aud: audience, iss: entra.issuer, nbf: now - 5, exp: now + 600 }, forger);
};
const statusOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return 200;
  } catch (err) {
    return (err as { code?: unknown; statusCode?: unknown }).statusCode ?? (err as { code?: unknown }).code;
  }
};

test('identity settings do not create containers; start-up says exactly which are missing', async () => {
  expect(services.config.cosmos.createIfNotExists).toBe(false);
  await expect(services.ready()).rejects.toThrow(/database 'meetstream' does not exist/);
  // The data plane refuses this under a token (403, substatus 5300), as Cosmos DB does:
  await expect(ensureCosmosResources(services.config, services.cosmos.client)).rejects.toMatchObject({
    code: 403,
    substatus: 5300,
  });
  // So the infrastructure creates them (here: a key, as the control plane would need none).
  const admin = new CosmosClient({ endpoint: cosmos.endpoint, key: cosmos.key, agent });
  clients.push(admin);
  await ensureCosmosResources(services.config, admin);
  await expect(services.ready()).resolves.toBeUndefined();
});

test('the Cosmos DB SDK sends Entra tokens for the account, which the embedded Cosmos DB checks', async () => {
  const before = cosmos.authStats();
  const created = await services.meetings.create({ title: 'Keyless' });
  const caller = await services.meetings.authorize(created.token, created.meeting.id);
  expect(caller.claims.participantId).toBe(created.host.id);
  const after = cosmos.authStats();
  expect(after.entra).toBeGreaterThan(before.entra);
  expect(after.key).toBe(before.key);
  expect(credential.scopes).toContain(`${cosmos.endpoint.replace(/\/$/, '')}/.default`);
});

test('Cosmos DB refuses a forged, an expired and a wrongly addressed token (401)', async () => {
  const read = (cred: TokenCredential) => cosmosWith(cred).database('meetstream').read();
  expect(await statusOf(read(fixed(forged)))).toBe(401);
  expect(await statusOf(read(fixed((aud) => entra.token(aud, {}, -600))))).toBe(401);
  expect(await statusOf(read(fixed(() => entra.token('https://management.azure.com'))))).toBe(401);
  // The account-independent audience is accepted, as on Azure.
  expect(await statusOf(read(fixed(() => entra.token('https://cosmos.azure.com'))))).toBe(200);
});

test('the Web PubSub SDK sends Bearer tokens the embedded hub checks; forged ones are refused', async () => {
  expect(await statusOf(services.gateway.client.groupExists('nobody'))).toBe(200);
  expect(credential.scopes).toContain('https://webpubsub.azure.com/.default');
  expect(await statusOf(wpsWith(fixed(forged)).groupExists('nobody'))).toBe(401);
  expect(await statusOf(wpsWith(fixed((aud) => entra.token(aud, {}, -600))).groupExists('x'))).toBe(401);
  expect(await statusOf(wpsWith(fixed(() => entra.token('https://cosmos.azure.com'))).groupExists('x'))).toBe(
    401,
  );
});

test('negotiate gets the client URL from :generateToken, and a client connects and receives pushes', async () => {
  const created = await services.meetings.create({ title: 'Keyless push' });
  const meetingId = created.meeting.id;
  const caller = await services.meetings.authorize(created.token, meetingId);
  const before = wps.restCalls('POST :generateToken');
  const access = await services.meetings.negotiate(caller);
  expect(wps.restCalls('POST :generateToken')).toBe(before + 1);
  const url = new URL(access.url);
  expect(url.protocol).toBe('wss:');
  expect(url.searchParams.get('meeting')).toBe(meetingId);

  const ws = new WebSocket(access.url, 'json.webpubsub.azure.v1', { ca: tls.cert });
  const messages: Array<Record<string, unknown>> = [];
  const next = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no message; got ${JSON.stringify(messages)}`)), 5000);
      ws.once('message', (data: Buffer) => {
        clearTimeout(t);
        const m = JSON.parse(data.toString()) as Record<string, unknown>;
        messages.push(m);
        resolve(m);
      });
    });
  try {
    expect(await next()).toMatchObject({
      type: 'system',
      event: 'connected',
      userId: caller.claims.participantId,
    });
    const pushed = next();
    await services.gateway.publish(meetingId, []);
    expect(await pushed).toMatchObject({ type: 'message', data: [] });
  } finally {
    ws.close();
  }
});

test('with local auth disabled, the hub and the account refuse key-signed requests', async () => {
  const keyless = await startEmbeddedWebPubSub({
    port: 0,
    accessKey: 'k'.repeat(32),
    tls,
    entra: { jwksUri: entra.jwksUri, issuers: [entra.issuer] },
    disableLocalAuth: true,
  });
  const account = await startEmbeddedCosmos({ port: 0, tls, disableLocalAuth: true });
  try {
    const keyed = new WebPubSubServiceClient(
      `Endpoint=${keyless.endpoint};AccessKey=${'k'.repeat(32)};Version=1.0;`,
      'meetstream',
      {
        retryOptions: { maxRetries: 0 },
        additionalPolicies: [
          {
            position: 'perCall',
            policy: { name: 'agent', sendRequest: (req, next) => next(Object.assign(req, { agent })) },
          },
        ],
      },
    );
    expect(await statusOf(keyed.groupExists('x'))).toBe(401);
    const client = new CosmosClient({
      endpoint: account.endpoint,
      key: account.key,
      agent,
      connectionPolicy: { requestTimeout: 5000, enableEndpointDiscovery: false },
    });
    clients.push(client);
    expect(await statusOf(client.databases.readAll().fetchAll())).toBe(401);
    // And without a JWKS an Entra token cannot be checked, so it is refused too.
    const noEntra = new CosmosClient({
      endpoint: account.endpoint,
      aadCredentials: credential,
      agent,
      connectionPolicy: { requestTimeout: 5000, enableEndpointDiscovery: false },
    });
    clients.push(noEntra);
    expect(await statusOf(noEntra.databases.readAll().fetchAll())).toBe(401);
  } finally {
    await Promise.all([keyless.close(), account.close()]);
  }
});
