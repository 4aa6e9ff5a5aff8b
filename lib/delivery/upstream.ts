/**
 * The Web PubSub event handler ("upstream") protocol, as the real service speaks it: CloudEvents
 * in HTTP binary mode, the abuse-protection OPTIONS handshake, and `ce-signature`, an HMAC-SHA256
 * of the connection id with the access key (one `sha256=` value per key, comma-separated, so keys
 * can be rotated). A resource with local auth disabled has no keys and signs nothing; with the
 * hub's event-handler auth "ManagedIdentity" it sends a Microsoft Entra bearer token instead.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { DeliveryConfig } from '../config';
import { bearerToken, EntraTokenVerifier, type EntraCheck } from '../entra';

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

interface EventContext {
  userId: string | undefined;
  connectionId: string;
  /** The meeting our `connect` answer stored in the connection's state (see `connectionState`). */
  meetingId: string | undefined;
}

export type UpstreamEvent =
  | ({ kind: 'connect' } & EventContext)
  | ({ kind: 'connected' } & EventContext)
  | ({ kind: 'disconnected' } & EventContext)
  | ({ kind: 'other'; type: string } & EventContext);

export type UpstreamCheck =
  { ok: true; event: UpstreamEvent } | { ok: false; status: 400 | 401; detail: string };

/**
 * How events are authenticated: the access key's `ce-signature` whenever a key is configured,
 * else the Entra token (the hub signs nothing without keys).
 */
export type UpstreamAuth = { accessKey: string } | { entra: { verify(token: string): Promise<EntraCheck> } };

export function createUpstreamAuth(config: DeliveryConfig): UpstreamAuth {
  if (config.webPubSubAccessKey || config.eventHandlerEntra === undefined) {
    return { accessKey: config.webPubSubAccessKey };
  }
  return { entra: new EntraTokenVerifier(config.eventHandlerEntra) };
}

const NOT_A_CLOUD_EVENT: UpstreamCheck = {
  ok: false,
  status: 400,
  detail: 'Not a Web PubSub CloudEvent (ce-type, ce-connectionId).',
};

/** Validates a CloudEvents POST signed with the access key and says which event it is. */
export function readUpstreamEvent(headers: HeaderReader, accessKey: string, hub: string): UpstreamCheck {
  const connectionId = headers.get('ce-connectionid') ?? '';
  if (!headers.get('ce-type') || !connectionId) return NOT_A_CLOUD_EVENT;
  if (!validSignature(headers.get('ce-signature'), connectionId, accessKey)) {
    return { ok: false, status: 401, detail: 'The ce-signature does not match.' };
  }
  return parseEvent(headers, hub);
}

/** Validates a CloudEvents POST with either kind of authentication (see UpstreamAuth). */
export async function checkUpstreamEvent(
  headers: HeaderReader,
  auth: UpstreamAuth,
  hub: string,
): Promise<UpstreamCheck> {
  if ('accessKey' in auth) return readUpstreamEvent(headers, auth.accessKey, hub);
  if (!headers.get('ce-type') || !headers.get('ce-connectionid')) return NOT_A_CLOUD_EVENT;
  const token = bearerToken(headers.get('authorization'));
  if (token === undefined) {
    return {
      ok: false,
      status: 401,
      detail:
        'No bearer token: without an access key, the hub must call with event handler auth ManagedIdentity.',
    };
  }
  const check = await auth.entra.verify(token);
  if (!check.ok) return { ok: false, status: 401, detail: `The bearer token was refused: ${check.reason}.` };
  return parseEvent(headers, hub);
}

function parseEvent(headers: HeaderReader, hub: string): UpstreamCheck {
  const type = headers.get('ce-type') ?? '';
  const connectionId = headers.get('ce-connectionid') ?? '';
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
  const context: EventContext = {
    userId,
    connectionId,
    meetingId: meetingOfState(headers.get('ce-connectionstate')),
  };
  if (type === 'azure.webpubsub.sys.connect') return { ok: true, event: { kind: 'connect', ...context } };
  if (type === 'azure.webpubsub.sys.connected') return { ok: true, event: { kind: 'connected', ...context } };
  if (type === 'azure.webpubsub.sys.disconnected') {
    return { ok: true, event: { kind: 'disconnected', ...context } };
  }
  return { ok: true, event: { kind: 'other', type, ...context } };
}

/** The query parameter negotiate adds to the client URL: the service hands it to `connect`. */
export const MEETING_QUERY = 'meeting';

/**
 * The connection state our `connect` answer sets (`ce-connectionState`, which the service keeps for
 * the connection's life and echoes on every later event of it). The documented convention for
 * structured state is base64 of a JSON string.
 */
export function connectionState(meetingId: string): string {
  return Buffer.from(JSON.stringify({ meetingId }), 'utf8').toString('base64');
}

function meetingOfState(header: string | null): string | undefined {
  if (!header) return undefined;
  try {
    const state = JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as unknown;
    const meetingId = (state as { meetingId?: unknown } | null)?.meetingId;
    return typeof meetingId === 'string' && meetingId !== '' ? meetingId : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The meeting a connecting client asks for, from the blocking `connect` event's body. The documented
 * `query` field (`{query: {name: [values]}}`) carries the client URL's query parameters, and
 * negotiate puts exactly one `meeting=<id>` there. The token's claims are not read: their shape in
 * that body is not documented (the service may map claim types). The caller must still check that
 * the user belongs to that meeting, since a client can edit its own URL.
 */
export function meetingOfConnect(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const query = (body as { query?: unknown }).query;
  if (typeof query !== 'object' || query === null) return undefined;
  const raw = (query as Record<string, unknown>)[MEETING_QUERY];
  const values = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  if (values.length !== 1 || typeof values[0] !== 'string' || values[0] === '') return undefined;
  return values[0];
}
