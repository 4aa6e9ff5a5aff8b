/**
 * The production Microsoft Entra access-token check (lib/entra.ts): RS256 against the tenant's
 * published keys (fetched, cached, looked up by key id), issuer, audience, nbf/exp with a small
 * clock skew. Keys come from a JWKS served on a loopback port.
 */
import {
  EntraTokenVerifier,
  bearerToken,
  entraIssuers,
  entraJwksUri,
  type EntraVerifierOptions,
} from '../../lib/entra';
import { newTestKey, signRs256, startTestEntra, type TestEntra } from '../support/entra';

const AUDIENCE = 'api://meetstream-events';
let entra: TestEntra;

beforeAll(async () => {
  entra = await startTestEntra();
});
afterAll(() => entra.close());

const verifier = (opts: Partial<EntraVerifierOptions> = {}) =>
  new EntraTokenVerifier({
    jwksUri: entra.jwksUri,
    issuers: [entra.issuer],
    audiences: [AUDIENCE],
    ...opts,
  });

test('a token signed with a published key, for our audience and from the tenant, is accepted', async () => {
  const check = await verifier().verify(entra.token(AUDIENCE));
  expect(check).toMatchObject({ ok: true, claims: { aud: AUDIENCE, iss: entra.issuer } });
});

test('an audience list in the token is accepted when it names ours', async () => {
  expect(await verifier().verify(entra.token('x', { aud: ['other', AUDIENCE] }))).toMatchObject({ ok: true });
});

test('a token signed with another key under the published key id is refused', async () => {
  const forger = newTestKey(entra.key.kid);
  const now = Math.floor(Date.now() / 1000);
  const forged = signRs256({ aud: AUDIENCE, iss: entra.issuer, nbf: now, exp: now + 600 }, forger);
  expect(await verifier().verify(forged)).toEqual({ ok: false, reason: 'invalid signature' });
});

test('a token for another audience, or from another issuer, is refused', async () => {
  expect(await verifier().verify(entra.token('https://management.azure.com'))).toEqual({
    ok: false,
    reason: 'wrong audience',
  });
  expect(
    await verifier().verify(entra.token(AUDIENCE, { iss: 'https://login.microsoftonline.com/evil/v2.0' })),
  ).toEqual({ ok: false, reason: 'wrong issuer' });
});

test('expired and not-yet-valid tokens are refused beyond the clock skew, accepted within it', async () => {
  expect(await verifier().verify(entra.token(AUDIENCE, {}, -120))).toEqual({
    ok: false,
    reason: 'token expired',
  });
  expect(await verifier({ clockSkewSeconds: 300 }).verify(entra.token(AUDIENCE, {}, -120))).toMatchObject({
    ok: true,
  });
  const now = Math.floor(Date.now() / 1000);
  expect(await verifier().verify(entra.token(AUDIENCE, { nbf: now + 600 }))).toEqual({
    ok: false,
    reason: 'token not yet valid',
  });
  // No expiry at all is not a valid access token.
  expect(await verifier().verify(entra.token(AUDIENCE, { exp: undefined }))).toEqual({
    ok: false,
    reason: 'token has no expiry',
  });
});

test('only RS256 is accepted: an HS256 token signed with the public modulus, or alg none, is refused', async () => {
  const now = Math.floor(Date.now() / 1000);
  const claims = { aud: AUDIENCE, iss: entra.issuer, exp: now + 600 };
  const b = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const none = `${b({ alg: 'none', kid: entra.key.kid })}.${b(claims)}.`;
  const hs = `${b({ alg: 'HS256', kid: entra.key.kid })}.${b(claims)}.c2ln`;
  expect(await verifier().verify(none)).toEqual({ ok: false, reason: 'unsupported algorithm' });
  expect(await verifier().verify(hs)).toEqual({ ok: false, reason: 'unsupported algorithm' });
  expect(await verifier().verify('not-a-jwt')).toEqual({ ok: false, reason: 'malformed token' });
});

test('keys are fetched once and cached; an unknown key id refetches at most once per cool-down', async () => {
  let clock = Date.now();
  const v = verifier({ now: () => clock });
  const before = entra.fetches();
  await v.verify(entra.token(AUDIENCE));
  await v.verify(entra.token(AUDIENCE));
  expect(entra.fetches() - before).toBe(1);
  clock += 10 * 60_000; // past the cool-down since that fetch
  const stranger = newTestKey('rotated-in-later');
  const exp = Math.floor(clock / 1000) + 600;
  const token = signRs256({ aud: AUDIENCE, iss: entra.issuer, exp }, stranger);
  expect(await v.verify(token)).toEqual({ ok: false, reason: 'unknown signing key' });
  expect(await v.verify(token)).toEqual({ ok: false, reason: 'unknown signing key' });
  // One refetch for the first unknown kid (keys rotate), none for the second within the cool-down.
  expect(entra.fetches() - before).toBe(2);
  // Known keys keep working meanwhile.
  expect(await v.verify(signRs256({ aud: AUDIENCE, iss: entra.issuer, exp }, entra.key))).toMatchObject({
    ok: true,
  });
});

test('with client ids set, only tokens issued to them (azp, or appid in v1 tokens) are accepted', async () => {
  const v = verifier({ clientIds: ['hub-identity'] });
  expect(await v.verify(entra.token(AUDIENCE, { azp: 'hub-identity' }))).toMatchObject({ ok: true });
  expect(await v.verify(entra.token(AUDIENCE, { appid: 'hub-identity' }))).toMatchObject({ ok: true });
  expect(await v.verify(entra.token(AUDIENCE, { azp: 'some-other-app' }))).toEqual({
    ok: false,
    reason: 'issued to another client',
  });
  expect(await v.verify(entra.token(AUDIENCE))).toEqual({ ok: false, reason: 'issued to another client' });
});

test('a JWKS that cannot be fetched refuses the token without throwing', async () => {
  const v = verifier({ jwksUri: 'http://127.0.0.1:1/keys' });
  expect(await v.verify(entra.token(AUDIENCE))).toEqual({ ok: false, reason: 'signing keys unavailable' });
});

test('tenant helpers: v1 and v2 issuers, the tenant JWKS, and the bearer header', () => {
  expect(entraIssuers('t1')).toEqual([
    'https://login.microsoftonline.com/t1/v2.0',
    'https://sts.windows.net/t1/',
  ]);
  expect(entraJwksUri('t1')).toBe('https://login.microsoftonline.com/t1/discovery/v2.0/keys');
  expect(bearerToken('Bearer abc.def.ghi')).toBe('abc.def.ghi');
  expect(bearerToken('bearer  abc')).toBe('abc');
  expect(bearerToken('Basic abc')).toBeUndefined();
  expect(bearerToken(null)).toBeUndefined();
});
