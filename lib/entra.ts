/**
 * Microsoft Entra ID access-token verification with node:crypto only: RS256 signatures against the
 * tenant's published keys (JWKS, fetched on first use, cached, looked up by `kid`), then issuer,
 * audience and `nbf`/`exp` with a small clock skew. Used for the Web PubSub event handler's
 * bearer token (hub event-handler auth "ManagedIdentity") and by the embedded Cosmos DB and Web
 * PubSub, which accept Entra tokens the same way the services do.
 *
 * Only RS256 is accepted: Entra signs access tokens with RSA, and accepting anything the token's
 * header names would let a forger pick HS256 (keyed with public material) or `none`.
 */
import { createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';

export interface EntraVerifierOptions {
  /** The JWKS of the tenant, e.g. https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys. */
  jwksUri: string;
  /** Accepted `iss` values (v1 and v2 tokens name their issuer differently: entraIssuers()). */
  issuers: string[];
  /** Accepted `aud` values: any one of them in the token's `aud` (string or list) is enough. */
  audiences: string[];
  /**
   * When set, the token must have been issued to one of these clients (`azp` in v2 tokens, `appid`
   * in v1): e.g. only the Web PubSub resource's identity, not any app of the tenant that can get
   * a token for the audience.
   */
  clientIds?: string[];
  /** Tolerance for `nbf`/`exp` between our clock and Entra's; default 60 s. */
  clockSkewSeconds?: number;
  /** How long fetched keys are used before fetching again; default 24 h (Entra rotates slowly). */
  keysMaxAgeMs?: number;
  /**
   * Least time between two fetches caused by an unknown `kid`: a new key is picked up promptly
   * after a rotation, but a stream of forged key ids cannot make us hammer the JWKS. Default 5 min.
   */
  refetchCooldownMs?: number;
  now?: () => number;
  /** For tests and for callers with their own transport; default global fetch. */
  fetchJson?: (url: string) => Promise<unknown>;
}

export type EntraClaims = Record<string, unknown>;

export type EntraCheck = { ok: true; claims: EntraClaims } | { ok: false; reason: string };

/** The JWKS every token of a tenant is signed with (v1 and v2 tokens share it). */
export function entraJwksUri(tenantId: string): string {
  return `https://login.microsoftonline.com/${encodeURIComponent(tenantId)}/discovery/v2.0/keys`;
}

/** The issuers of a tenant's v2 and v1 access tokens (which one depends on the app registration). */
export function entraIssuers(tenantId: string): string[] {
  return [`https://login.microsoftonline.com/${tenantId}/v2.0`, `https://sts.windows.net/${tenantId}/`];
}

/** The token of an `Authorization: Bearer …` header, or undefined. */
export function bearerToken(header: string | null | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

interface DecodedJwt {
  header: Record<string, unknown>;
  claims: EntraClaims;
  signed: Buffer;
  signature: Buffer;
}

export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[0] || !parts[1]) return undefined;
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as unknown;
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as unknown;
    if (!isObject(header) || !isObject(claims)) return undefined;
    return {
      header,
      claims,
      signed: Buffer.from(`${parts[0]}.${parts[1]}`, 'utf8'),
      signature: Buffer.from(parts[2] ?? '', 'base64url'),
    };
  } catch {
    return undefined;
  }
}

export class EntraTokenVerifier {
  private keys = new Map<string, KeyObject>();
  private fetchedAt = -Infinity;
  private lastFetchAttempt = -Infinity;
  private inFlight: Promise<void> | undefined;
  private readonly skew: number;
  private readonly now: () => number;

  constructor(private readonly opts: EntraVerifierOptions) {
    this.skew = opts.clockSkewSeconds ?? 60;
    this.now = opts.now ?? Date.now;
  }

  async verify(token: string): Promise<EntraCheck> {
    const jwt = decodeJwt(token);
    if (!jwt) return { ok: false, reason: 'malformed token' };
    if (jwt.header.alg !== 'RS256') return { ok: false, reason: 'unsupported algorithm' };
    const kid = typeof jwt.header.kid === 'string' ? jwt.header.kid : undefined;
    if (!kid) return { ok: false, reason: 'token names no signing key' };
    const key = await this.key(kid);
    if (key === 'unavailable') return { ok: false, reason: 'signing keys unavailable' };
    if (!key) return { ok: false, reason: 'unknown signing key' };
    if (!verifySignature('RSA-SHA256', jwt.signed, key, jwt.signature)) {
      return { ok: false, reason: 'invalid signature' };
    }
    return this.checkClaims(jwt.claims);
  }

  private checkClaims(claims: EntraClaims): EntraCheck {
    const nowSec = this.now() / 1000;
    if (typeof claims.exp !== 'number') return { ok: false, reason: 'token has no expiry' };
    if (nowSec >= claims.exp + this.skew) return { ok: false, reason: 'token expired' };
    if (typeof claims.nbf === 'number' && nowSec + this.skew < claims.nbf) {
      return { ok: false, reason: 'token not yet valid' };
    }
    if (typeof claims.iss !== 'string' || !this.opts.issuers.includes(claims.iss)) {
      return { ok: false, reason: 'wrong issuer' };
    }
    const aud = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
    if (!aud.some((a) => typeof a === 'string' && this.opts.audiences.includes(a))) {
      return { ok: false, reason: 'wrong audience' };
    }
    if (this.opts.clientIds !== undefined && this.opts.clientIds.length > 0) {
      const client = typeof claims.azp === 'string' ? claims.azp : claims.appid;
      if (typeof client !== 'string' || !this.opts.clientIds.includes(client)) {
        return { ok: false, reason: 'issued to another client' };
      }
    }
    return { ok: true, claims };
  }

  /** The key for `kid`, fetching the JWKS when the cache is stale or (rate-limited) lacks it. */
  private async key(kid: string): Promise<KeyObject | undefined | 'unavailable'> {
    const now = this.now();
    const stale = now - this.fetchedAt > (this.opts.keysMaxAgeMs ?? 24 * 3_600_000);
    const unknown = !this.keys.has(kid);
    const cooled = now - this.lastFetchAttempt >= (this.opts.refetchCooldownMs ?? 5 * 60_000);
    if (stale || (unknown && cooled)) {
      try {
        await this.refresh();
      } catch {
        // Keep using keys we already have; without any, nothing can be verified.
        if (this.keys.size === 0) return 'unavailable';
      }
    }
    return this.keys.get(kid);
  }

  private refresh(): Promise<void> {
    // Concurrent verifications share one fetch.
    this.inFlight ??= (async () => {
      this.lastFetchAttempt = this.now();
      try {
        const body = await (this.opts.fetchJson ?? defaultFetchJson)(this.opts.jwksUri);
        const keys = new Map<string, KeyObject>();
        const list = isObject(body) && Array.isArray(body.keys) ? (body.keys as unknown[]) : [];
        for (const jwk of list) {
          if (!isObject(jwk) || jwk.kty !== 'RSA' || typeof jwk.kid !== 'string') continue;
          if (typeof jwk.n !== 'string' || typeof jwk.e !== 'string') continue;
          if (jwk.use !== undefined && jwk.use !== 'sig') continue;
          try {
            keys.set(jwk.kid, createPublicKey({ key: { kty: 'RSA', n: jwk.n, e: jwk.e }, format: 'jwk' }));
          } catch {
            // one malformed key must not hide the others
          }
        }
        if (keys.size === 0) throw new Error('the JWKS holds no RSA signing key');
        this.keys = keys;
        this.fetchedAt = this.now();
      } finally {
        this.inFlight = undefined;
      }
    })();
    return this.inFlight;
  }
}

async function defaultFetchJson(url: string): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`JWKS ${url} answered ${res.status}`);
  return res.json();
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
