/**
 * Participant tokens: compact JWTs (HS256) signed with the service's secret, naming exactly one
 * meeting, one participant and one role, with an expiry. Verification is constant-time and
 * rejects anything but HS256, so a token cannot pick its own algorithm.
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

const HEADER = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
const ISSUER = 'meetstream';

export function signParticipantToken(claims: ParticipantClaims, secret: string, now = Date.now()): string {
  const payload = base64url(
    JSON.stringify({
      iss: ISSUER,
      sub: claims.participantId,
      mid: claims.meetingId,
      role: claims.role,
      iat: Math.floor(now / 1000),
      exp: claims.expiresAt,
    }),
  );
  const unsigned = `${HEADER}.${payload}`;
  return `${unsigned}.${sign(unsigned, secret)}`;
}

export type TokenCheck =
  { ok: true; claims: ParticipantClaims } | { ok: false; reason: 'malformed' | 'signature' | 'expired' };

export function verifyParticipantToken(token: string, secret: string, now = Date.now()): TokenCheck {
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
  const { iss, sub, mid, role, exp } = body;
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
  return { ok: true, claims: { meetingId: mid, participantId: sub, role: role as Role, expiresAt: exp } };
}

function sign(data: string, secret: string): string {
  return createHmac('sha256', secret).update(data).digest('base64url');
}

function base64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}
