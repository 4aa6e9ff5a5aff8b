/**
 * Who may call the event handler. With an access key, Web PubSub signs each event (`ce-signature`)
 * and only that is accepted. With local auth disabled it signs nothing; with event-handler auth
 * "ManagedIdentity" it sends `Authorization: Bearer <Entra token>` for the configured audience,
 * which is then checked (issuer, audience, signature against the tenant's keys, expiry).
 */
import { createHmac } from 'node:crypto';
import { readConfig } from '../../lib/config';
import { checkUpstreamEvent, createUpstreamAuth, type UpstreamAuth } from '../../lib/delivery/upstream';
import { newTestKey, signRs256, startTestEntra, type TestEntra } from '../support/entra';

const AUDIENCE = 'api://meetstream-events';
const KEY = 'primary-access-key';
let entra: TestEntra;
let entraAuth: UpstreamAuth;

beforeAll(async () => {
  entra = await startTestEntra();
  const config = readConfig({
    CosmosDBConnection__accountEndpoint: 'https://acct.documents.azure.com:443/',
    WebPubSubConnection__endpoint: 'https://hub.webpubsub.azure.com',
    WEBPUBSUB_EVENT_HANDLER_AUDIENCE: AUDIENCE,
    ENTRA_JWKS_URI: entra.jwksUri,
    ENTRA_ISSUER: entra.issuer,
    MEETSTREAM_TOKEN_SECRET: 'x'.repeat(40),
  });
  entraAuth = createUpstreamAuth(config.delivery);
});
afterAll(() => entra.close());

const headers = (h: Record<string, string>) => ({ get: (n: string) => h[n.toLowerCase()] ?? null });
const event = {
  'ce-type': 'azure.webpubsub.sys.connected',
  'ce-connectionid': 'conn-1',
  'ce-hub': 'meetstream',
  'ce-userid': 'p1',
};
const sign = (id: string, key: string) => 'sha256=' + createHmac('sha256', key).update(id).digest('hex');
const withBearer = (token: string) => headers({ ...event, authorization: `Bearer ${token}` });

describe('with an access key: ce-signature', () => {
  const keyAuth: UpstreamAuth = { accessKey: KEY };

  test('a valid signature (of any of the keys listed) is accepted', async () => {
    const check = await checkUpstreamEvent(
      headers({ ...event, 'ce-signature': `${sign('conn-1', 'old')},${sign('conn-1', KEY)}` }),
      keyAuth,
      'meetstream',
    );
    expect(check).toMatchObject({
      ok: true,
      event: { kind: 'connected', userId: 'p1', connectionId: 'conn-1' },
    });
  });

  test('a forged signature, or one for another connection, is refused', async () => {
    for (const signature of [sign('conn-1', 'guessed'), sign('conn-2', KEY), '']) {
      expect(
        await checkUpstreamEvent(headers({ ...event, 'ce-signature': signature }), keyAuth, 'meetstream'),
      ).toMatchObject({ ok: false, status: 401 });
    }
  });

  test('a valid Entra token does not replace the signature while a key is configured', async () => {
    expect(await checkUpstreamEvent(withBearer(entra.token(AUDIENCE)), keyAuth, 'meetstream')).toMatchObject({
      ok: false,
      status: 401,
    });
  });
});

describe('without an access key: the Entra bearer token', () => {
  test('a token from the tenant for our audience is accepted', async () => {
    expect(
      await checkUpstreamEvent(withBearer(entra.token(AUDIENCE)), entraAuth, 'meetstream'),
    ).toMatchObject({
      ok: true,
      event: { kind: 'connected', userId: 'p1' },
    });
  });

  test('a token signed with another key (same key id) is refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    const forged = signRs256({ aud: AUDIENCE, iss: entra.issuer, exp: now + 600 }, newTestKey(entra.key.kid));
    expect(await checkUpstreamEvent(withBearer(forged), entraAuth, 'meetstream')).toEqual({
      ok: false,
      status: 401,
      detail: 'The bearer token was refused: invalid signature.',
    });
  });

  test('a token for another audience is refused', async () => {
    expect(
      await checkUpstreamEvent(
        withBearer(entra.token('https://management.azure.com')),
        entraAuth,
        'meetstream',
      ),
    ).toEqual({ ok: false, status: 401, detail: 'The bearer token was refused: wrong audience.' });
  });

  test('an expired token is refused', async () => {
    expect(
      await checkUpstreamEvent(withBearer(entra.token(AUDIENCE, {}, -600)), entraAuth, 'meetstream'),
    ).toEqual({
      ok: false,
      status: 401,
      detail: 'The bearer token was refused: token expired.',
    });
  });

  test('a token from another tenant is refused', async () => {
    const other = entra.token(AUDIENCE, { iss: 'https://login.microsoftonline.com/other-tenant/v2.0' });
    expect(await checkUpstreamEvent(withBearer(other), entraAuth, 'meetstream')).toMatchObject({
      ok: false,
      status: 401,
    });
  });

  test('no token, or only a signature, is refused and says what the hub must send', async () => {
    const none = await checkUpstreamEvent(
      headers({ ...event, 'ce-signature': sign('conn-1', KEY) }),
      entraAuth,
      'meetstream',
    );
    expect(none).toMatchObject({ ok: false, status: 401 });
    expect(none.ok ? '' : none.detail).toContain('ManagedIdentity');
  });

  test('what is not a CloudEvent, or of another hub, is still a 400 after the token', async () => {
    const token = entra.token(AUDIENCE);
    expect(
      await checkUpstreamEvent(headers({ authorization: `Bearer ${token}` }), entraAuth, 'meetstream'),
    ).toMatchObject({ ok: false, status: 400 });
    expect(await checkUpstreamEvent(withBearer(token), entraAuth, 'other')).toMatchObject({
      ok: false,
      status: 400,
    });
  });
});
