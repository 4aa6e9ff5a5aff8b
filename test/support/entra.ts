/**
 * A stand-in for Microsoft Entra ID in tests: an RSA key pair, a JWKS endpoint on a loopback port
 * (http, port 0) and a TokenCredential that mints RS256 access tokens the way Entra does (`aud`
 * from the requested scope, `iss`, `tid`, `nbf`/`exp`), so the official SDKs can be driven through
 * their identity paths offline.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';

export const TEST_TENANT = '72f988bf-0000-4000-8000-00000000beef';

export interface TestKey {
  kid: string;
  privateKey: KeyObject;
  jwk: Record<string, unknown>;
}

export function newTestKey(kid: string): TestKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = createPublicKey(createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' }))).export({
    format: 'jwk',
  }) as Record<string, unknown>;
  return { kid, privateKey, jwk: { ...jwk, kid, use: 'sig', alg: 'RS256' } };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

/** An RS256 JWT over `claims` signed with `key` (header `kid` = the key's, unless overridden). */
export function signRs256(
  claims: Record<string, unknown>,
  key: TestKey,
  header: Record<string, unknown> = {},
): string {
  const body = `${b64({ typ: 'JWT', alg: 'RS256', kid: key.kid, ...header })}.${b64(claims)}`;
  return `${body}.${sign('RSA-SHA256', Buffer.from(body), key.privateKey).toString('base64url')}`;
}

export interface TestEntra {
  tenantId: string;
  /** `https://login.microsoftonline.com/<tenant>/v2.0`, as v2 tokens name their issuer. */
  issuer: string;
  jwksUri: string;
  /** The key the JWKS publishes. */
  key: TestKey;
  /** How many times the JWKS was fetched. */
  fetches(): number;
  /** A token as Entra would issue for `audience`, valid for `lifetimeSec` (negative: already expired). */
  token(audience: string, extra?: Record<string, unknown>, lifetimeSec?: number): string;
  close(): Promise<void>;
}

export async function startTestEntra(): Promise<TestEntra> {
  const key = newTestKey('test-key-1');
  let fetches = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    if (req.url !== '/discovery/v2.0/keys') {
      res.writeHead(404).end();
      return;
    }
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [key.jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const issuer = `https://login.microsoftonline.com/${TEST_TENANT}/v2.0`;
  return {
    tenantId: TEST_TENANT,
    issuer,
    jwksUri: `http://127.0.0.1:${port}/discovery/v2.0/keys`,
    key,
    fetches: () => fetches,
    token(audience, extra = {}, lifetimeSec = 3600) {
      const now = Math.floor(Date.now() / 1000);
      return signRs256(
        {
          aud: audience,
          iss: issuer,
          tid: TEST_TENANT,
          oid: '00000000-0000-0000-0000-00000000a11e',
          iat: now - 10,
          nbf: now - 10,
          exp: now + lifetimeSec,
          ...extra,
        },
        key,
      );
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/**
 * A TokenCredential backed by the test Entra: like a managed identity, it answers any scope
 * `<resource>/.default` with a token whose `aud` is `<resource>`. Records the scopes asked for.
 */
export class TestCredential implements TokenCredential {
  readonly scopes: string[] = [];
  constructor(private readonly entra: TestEntra) {}

  getToken(scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
    const scope = Array.isArray(scopes) ? (scopes[0] ?? '') : scopes;
    this.scopes.push(scope);
    const audience = scope.replace(/\/\.default$/, '');
    return Promise.resolve({
      token: this.entra.token(audience),
      expiresOnTimestamp: Date.now() + 3_600_000,
    });
  }
}
