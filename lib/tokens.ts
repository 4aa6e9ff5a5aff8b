/**
 * Participant tokens: compact JWTs (HS256) signed with the service's secret, naming exactly one
 * meeting, one participant and one role, with an expiry. Verification is constant-time and
 * rejects anything but HS256, so a token cannot pick its own algorithm.
 *
 * Stream tickets are the same kind of token with one purpose (`aud: "stream"`) and a life of
 * seconds: they open one Server-Sent Events stream from a browser's EventSource, which cannot send
 * headers, so the credential has to travel in the URL, where it lands in request telemetry and
 * proxy logs. A ticket found there has expired before anyone reads it and opens nothing else; a
 * participant token is never accepted in a URL. Each kind is refused where the other is expected.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ROLES, type Role } from './protocol';

export interface ParticipantClaims {
  meetingId: string;
  participantId: string;
  role: Role;
  /** Epoch seconds. */
  expiresAt: number;
}

/**
 * What a token may be used for: everything a participant does, opening one event stream, or
 * opening the meeting's summary by link (a browser tab cannot send a bearer header either).
 */
export type TokenPurpose = 'participant' | 'stream' | 'summary';

/** Seconds a summary link works: long enough to open it (and reload once), short if it leaks. */
export const SUMMARY_LINK_SECONDS = 300;

/** Seconds a stream ticket stays usable: enough to open the stream right after asking. */
export const STREAM_TICKET_SECONDS = 30;

const audience: Record<TokenPurpose, string | undefined> = {
  participant: undefined,
  stream: 'stream',
  summary: 'summary',
};

const HEADER = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
const ISSUER = 'meetstream';

export function signParticipantToken(claims: ParticipantClaims, secret: string, now = Date.now()): string {
  return signToken(
    { sub: claims.participantId, mid: claims.meetingId, role: claims.role, exp: claims.expiresAt },
    secret,
    now,
  );
}

/**
 * A stream ticket for the holder of a verified participant token: the same participant and
 * meeting, usable for STREAM_TICKET_SECONDS (`expiresAt`, epoch seconds); the stream it opens
 * still ends when the participant token would have expired (`texp`).
 */
export function signStreamTicket(
  claims: ParticipantClaims,
  secret: string,
  now = Date.now(),
): { ticket: string; expiresAt: number } {
  const exp = Math.min(claims.expiresAt, Math.floor(now / 1000) + STREAM_TICKET_SECONDS);
  const ticket = signToken(
    {
      sub: claims.participantId,
      mid: claims.meetingId,
      role: claims.role,
      exp,
      aud: 'stream',
      texp: claims.expiresAt,
    },
    secret,
    now,
  );
  return { ticket, expiresAt: exp };
}

/**
 * A summary link token for the holder of a verified participant token: opens that meeting's
 * summary only, for SUMMARY_LINK_SECONDS (never past the participant token's own expiry).
 */
export function signSummaryLink(
  claims: ParticipantClaims,
  secret: string,
  now = Date.now(),
): { token: string; expiresAt: number } {
  const exp = Math.min(claims.expiresAt, Math.floor(now / 1000) + SUMMARY_LINK_SECONDS);
  const token = signToken(
    { sub: claims.participantId, mid: claims.meetingId, role: claims.role, exp, aud: 'summary' },
    secret,
    now,
  );
  return { token, expiresAt: exp };
}

function signToken(body: Record<string, unknown>, secret: string, now: number): string {
  const payload = base64url(JSON.stringify({ iss: ISSUER, ...body, iat: Math.floor(now / 1000) }));
  const unsigned = `${HEADER}.${payload}`;
  return `${unsigned}.${sign(unsigned, secret)}`;
}

export type TokenCheck =
  { ok: true; claims: ParticipantClaims } | { ok: false; reason: 'malformed' | 'signature' | 'expired' };

/**
 * Verifies a token for one purpose: a stream ticket is not a participant token and the reverse
 * (`malformed` either way). A ticket's `expiresAt` is its participant token's expiry.
 */
export function verifyParticipantToken(
  token: string,
  secret: string,
  now = Date.now(),
  purpose: TokenPurpose = 'participant',
): TokenCheck {
  const parts = token.split('.');
  if (parts.length !== 3 || token.length > 4096) return { ok: false, reason: 'malformed' };
  const [header, payload, signature] = parts as [string, string, string];
  if (header !== HEADER) return { ok: false, reason: 'malformed' };
  const expected = Buffer.from(sign(`${header}.${payload}`, secret));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given))
    return { ok: false, reason: 'signature' };
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const { iss, sub, mid, role, exp, aud, texp } = body;
  // Each purpose has its own audience (none for participant tokens): one is never taken for another.
  if (purpose === 'stream' ? aud !== 'stream' || typeof texp !== 'number' : aud !== audience[purpose])
    return { ok: false, reason: 'malformed' };
  if (
    iss !== ISSUER ||
    typeof sub !== 'string' ||
    typeof mid !== 'string' ||
    typeof exp !== 'number' ||
    !ROLES.includes(role as Role)
  ) {
    return { ok: false, reason: 'malformed' };
  }
  if (exp * 1000 <= now) return { ok: false, reason: 'expired' };
  const expiresAt = purpose === 'stream' ? (texp as number) : exp;
  return { ok: true, claims: { meetingId: mid, participantId: sub, role: role as Role, expiresAt } };
}

function sign(data: string, secret: string): string {
  return createHmac('sha256', secret).update(data).digest('base64url');
}

function base64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}
