/**
 * HS256 JWTs as used by Azure Web PubSub: the server SDK signs every REST call with the access key
 * (`aud` = request URL), and client access tokens carry `sub`, `role` and `webpubsub.group`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface JwtClaims {
  [claim: string]: unknown;
  aud?: unknown;
  exp?: unknown;
  nbf?: unknown;
  iat?: unknown;
  sub?: unknown;
}

export type VerifyResult = { ok: true; claims: JwtClaims } | { ok: false; reason: string };

const HS256_HEADER = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));

export function base64url(input: string | Buffer): string {
  return (typeof input === 'string' ? Buffer.from(input, 'utf8') : input).toString('base64url');
}

export function signJwt(claims: JwtClaims, key: string): string {
  const body = `${HS256_HEADER}.${base64url(JSON.stringify(claims))}`;
  return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
}

/** Checks signature (HS256 only), `exp` and `nbf`. The audience is checked by the caller. */
export function verifyJwt(token: string, key: string, nowSeconds = Date.now() / 1000): VerifyResult {
  const firstDot = token.indexOf('.');
  const lastDot = token.lastIndexOf('.');
  if (firstDot <= 0 || lastDot === firstDot || lastDot === token.length - 1) {
    return { ok: false, reason: 'malformed token' };
  }
  let header: unknown;
  let claims: unknown;
  try {
    header = JSON.parse(Buffer.from(token.slice(0, firstDot), 'base64url').toString('utf8'));
    claims = JSON.parse(Buffer.from(token.slice(firstDot + 1, lastDot), 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed token' };
  }
  if (!isObject(header) || header.alg !== 'HS256') return { ok: false, reason: 'unsupported algorithm' };
  if (!isObject(claims)) return { ok: false, reason: 'malformed claims' };
  const expected = createHmac('sha256', key).update(token.slice(0, lastDot)).digest();
  const actual = Buffer.from(token.slice(lastDot + 1), 'base64url');
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    return { ok: false, reason: 'invalid signature' };
  }
  const c = claims as JwtClaims;
  if (typeof c.exp === 'number' && nowSeconds >= c.exp) return { ok: false, reason: 'token expired' };
  // A little tolerance for `nbf`: tokens are often minted on another machine a moment ago.
  if (typeof c.nbf === 'number' && nowSeconds + 5 < c.nbf)
    return { ok: false, reason: 'token not yet valid' };
  return { ok: true, claims: c };
}

/** Claim values that may be a single string or an array of strings (`role`, `webpubsub.group`). */
export function stringList(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

/** Strips `scheme://host` from an absolute URL; `undefined` if it is not one. */
export function pathOfUrl(url: string): string | undefined {
  const schemeEnd = url.indexOf('://');
  if (schemeEnd < 0) return undefined;
  const pathStart = url.indexOf('/', schemeEnd + 3);
  return pathStart < 0 ? '/' : url.slice(pathStart);
}

interface CachedRestToken {
  exp: number;
  audPath: string;
}

/**
 * Verifies REST bearer tokens. The SDK signs a token per request with second-resolution `iat`, so the
 * same string recurs for repeated calls to one URL; caching skips the HMAC and JSON work for those.
 */
export class RestTokenVerifier {
  private readonly cache = new Map<string, CachedRestToken>();

  constructor(
    private readonly key: string,
    private readonly maxEntries = 4096,
  ) {}

  /** `requestPath` is the raw path + query of the request; the token's `aud` must name the same one. */
  verify(authorization: string | undefined, requestPath: string): VerifyResult | { ok: true } {
    if (!authorization || !authorization.startsWith('Bearer '))
      return { ok: false, reason: 'missing bearer token' };
    const token = authorization.slice(7).trim();
    const nowSeconds = Date.now() / 1000;
    let entry = this.cache.get(token);
    if (entry === undefined) {
      const result = verifyJwt(token, this.key, nowSeconds);
      if (!result.ok) return result;
      const aud = typeof result.claims.aud === 'string' ? result.claims.aud : undefined;
      const audPath = aud === undefined ? undefined : pathOfUrl(aud);
      if (audPath === undefined) return { ok: false, reason: 'token has no audience' };
      entry = { exp: typeof result.claims.exp === 'number' ? result.claims.exp : Infinity, audPath };
      if (this.cache.size >= this.maxEntries) this.evict(nowSeconds);
      this.cache.set(token, entry);
    } else if (nowSeconds >= entry.exp) {
      this.cache.delete(token);
      return { ok: false, reason: 'token expired' };
    }
    // The host is not compared: behind a reverse proxy the token names the public endpoint.
    if (entry.audPath !== requestPath && normalizePath(entry.audPath) !== normalizePath(requestPath)) {
      return { ok: false, reason: 'token audience does not match the request URL' };
    }
    return { ok: true };
  }

  private evict(nowSeconds: number): void {
    for (const [token, entry] of this.cache) {
      if (entry.exp <= nowSeconds) this.cache.delete(token);
    }
    // Still full: drop the oldest quarter (Map iteration is insertion order).
    let toDrop = this.cache.size >= this.maxEntries ? this.maxEntries >> 2 : 0;
    for (const token of this.cache.keys()) {
      if (toDrop-- <= 0) break;
      this.cache.delete(token);
    }
  }
}

/** WHATWG-normalises a path + query so `'` vs `%27` style differences between signer and wire agree. */
function normalizePath(path: string): string {
  try {
    const url = new URL(path, 'http://x');
    return url.pathname + url.search;
  } catch {
    return path;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
