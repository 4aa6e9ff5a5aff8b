/**
 * The Web PubSub event handler ("upstream") protocol, as the real service speaks it: CloudEvents
 * in HTTP binary mode, the abuse-protection OPTIONS handshake, and `ce-signature`, an HMAC-SHA256
 * of the connection id with the access key (one `sha256=` value per key, comma-separated, so keys
 * can be rotated).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { meetingOfGroup } from '../protocol';

export interface HeaderReader {
  get(name: string): string | null;
}

/**
 * Abuse protection: the service sends `WebHook-Request-Origin: <its host>` and proceeds only if the
 * answer allows that origin. Returns the header to answer with, or undefined to refuse.
 */
export function allowedOrigin(headers: HeaderReader, allowed: readonly string[]): string | undefined {
  const origin = headers.get('webhook-request-origin')?.trim();
  if (!origin) return undefined;
  const lower = origin.toLowerCase();
  return allowed.some((a) => a === '*' || a.toLowerCase() === lower) ? origin : undefined;
}

export function signConnection(accessKey: string, connectionId: string): string {
  return 'sha256=' + createHmac('sha256', accessKey).update(connectionId).digest('hex');
}

/** True when one of the signatures in `header` is the HMAC of `connectionId` with `accessKey`. */
export function validSignature(header: string | null, connectionId: string, accessKey: string): boolean {
  if (!header || !connectionId || !accessKey) return false;
  const expected = Buffer.from(signConnection(accessKey, connectionId));
  return header.split(',').some((part) => {
    const given = Buffer.from(part.trim());
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

export type UpstreamEvent =
  | { kind: 'connect'; userId: string | undefined; connectionId: string }
  | { kind: 'connected'; userId: string | undefined; connectionId: string }
  | { kind: 'disconnected'; userId: string | undefined; connectionId: string }
  | { kind: 'other'; type: string; userId: string | undefined; connectionId: string };

export type UpstreamCheck =
  { ok: true; event: UpstreamEvent } | { ok: false; status: 400 | 401; detail: string };

/** Validates a CloudEvents POST from the service and says which event it is. */
export function readUpstreamEvent(headers: HeaderReader, accessKey: string, hub: string): UpstreamCheck {
  const type = headers.get('ce-type') ?? '';
  const connectionId = headers.get('ce-connectionid') ?? '';
  if (!type || !connectionId) {
    return { ok: false, status: 400, detail: 'Not a Web PubSub CloudEvent (ce-type, ce-connectionId).' };
  }
  if (!validSignature(headers.get('ce-signature'), connectionId, accessKey)) {
    return { ok: false, status: 401, detail: 'The ce-signature does not match.' };
  }
  const eventHub = headers.get('ce-hub') ?? '';
  if (eventHub.toLowerCase() !== hub.toLowerCase()) {
    return { ok: false, status: 400, detail: `Events of hub "${eventHub}" are not handled here.` };
  }
  const raw = headers.get('ce-userid');
  let userId: string | undefined;
  try {
    userId = raw ? decodeURIComponent(raw) : undefined;
  } catch {
    userId = raw ?? undefined;
  }
  if (type === 'azure.webpubsub.sys.connect')
    return { ok: true, event: { kind: 'connect', userId, connectionId } };
  if (type === 'azure.webpubsub.sys.connected')
    return { ok: true, event: { kind: 'connected', userId, connectionId } };
  if (type === 'azure.webpubsub.sys.disconnected') {
    return { ok: true, event: { kind: 'disconnected', userId, connectionId } };
  }
  return { ok: true, event: { kind: 'other', type, userId, connectionId } };
}

/**
 * The meeting a connecting client's token was issued for, from the blocking `connect` event's body
 * (`{claims: {"webpubsub.group": [...]}, ...}`; the service sends claim values as arrays). Our
 * negotiate puts exactly one group in the token, `meeting.{id}`; anything else is not ours.
 */
export function meetingOfConnect(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const claims = (body as { claims?: unknown }).claims;
  if (typeof claims !== 'object' || claims === null) return undefined;
  const raw = (claims as Record<string, unknown>)['webpubsub.group'];
  const groups = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  if (groups.length !== 1 || typeof groups[0] !== 'string') return undefined;
  return meetingOfGroup(groups[0]);
}
