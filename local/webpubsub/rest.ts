/** The data-plane REST API (api-version 2024-12-01) that `WebPubSubServiceClient` calls. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { bearerToken, decodeJwt, type EntraTokenVerifier } from '../../lib/entra';
import { RestTokenVerifier, signJwt, stringList } from './auth';
import type { ClientConnections } from './connections';
import { compileFilter, FilterSyntaxError, type Predicate } from './filter';
import { type Hub, HubRegistry, type SendScope } from './hub';
import { isGroupName, OutMessage } from './protocol';
import type { Session } from './session';

export interface RestContext {
  hubs: HubRegistry;
  connections: ClientConnections;
  verifier: RestTokenVerifier;
  /** Checks Microsoft Entra (RS256) bearer tokens; undefined = such tokens are refused. */
  entra?: EntraTokenVerifier;
  /** Refuse access-key-signed (HS256) REST tokens, as the service does with `disableLocalAuth`. */
  disableLocalAuth?: boolean;
  /** Counts answered REST operations by route (`POST :generateToken`…), for tests. */
  calls?: Map<string, number>;
  accessKey: string;
  /** Public endpoint, used as the audience of tokens minted by `:generateToken`. */
  endpoint: string;
  maxBodyBytes: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const PERMISSIONS = new Set(['joinLeaveGroup', 'sendToGroup']);

/**
 * Billed-message totals (billing.ts): GET reads, DELETE zeroes. Outside `/api` and `/client`, so
 * it cannot collide with the service's routes; it needs the same access-key JWT as they do.
 */
export const BILLING_STATS_PATH = '/_embedded/stats';

export function createRestHandler(ctx: RestContext): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(ctx, req, res).catch((err: unknown) => {
      const e = err instanceof HttpError ? err : new HttpError(500, 'InternalServerError', 'Internal error');
      if (!(err instanceof HttpError)) console.error('[webpubsub] request failed:', err);
      respond(res, e.status, req.method === 'HEAD' ? undefined : { code: e.code, message: e.message });
    });
  };
}

async function handle(ctx: RestContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const rawUrl = req.url ?? '/';
  const method = req.method ?? 'GET';
  const q = rawUrl.indexOf('?');
  const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : rawUrl.slice(q + 1));

  if (path === '/api/health' && (method === 'GET' || method === 'HEAD')) {
    return respond(res, 200, method === 'HEAD' ? undefined : { status: 'ok' });
  }
  if (path === BILLING_STATS_PATH) {
    drain(req);
    const auth = await authorize(ctx, req.headers.authorization, rawUrl);
    if (!auth.ok) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      throw new HttpError(401, 'Unauthorized', 'reason' in auth ? auth.reason : 'Unauthorized');
    }
    if (method === 'GET') return respond(res, 200, ctx.hubs.meter.snapshot());
    if (method === 'DELETE') {
      ctx.hubs.meter.reset();
      return respond(res, 204);
    }
    throw new HttpError(405, 'MethodNotAllowed', 'GET or DELETE.');
  }
  if (path.startsWith('/client/'))
    throw new HttpError(426, 'UpgradeRequired', 'Clients connect with WebSocket.');
  const segments = path.split('/');
  // ['', 'api', 'hubs', hub, ...rest]
  if (segments[1] !== 'api' || segments[2] !== 'hubs' || segments[3] === undefined || segments[3] === '') {
    throw new HttpError(404, 'NotFound', 'Unknown route.');
  }
  const auth = await authorize(ctx, req.headers.authorization, rawUrl);
  if (!auth.ok) {
    res.setHeader('WWW-Authenticate', 'Bearer');
    throw new HttpError(401, 'Unauthorized', 'reason' in auth ? auth.reason : 'Unauthorized');
  }
  const hubName = decode(segments[3]);
  const rest = segments.slice(4).map(decode);
  // Names sit at odd positions (`groups/{g}/connections/{id}`); replace them so routes are literals.
  const route = `${method} ${rest.map((s, i) => (i % 2 === 0 ? s : '*')).join('/')}`;
  const hub = ctx.hubs.get(hubName);
  const a = rest[1] ?? '';
  const b = rest[3] ?? '';
  ctx.calls?.set(route, (ctx.calls.get(route) ?? 0) + 1);

  switch (route) {
    case 'POST :send': {
      // Validated even when nobody would receive the message, as the service does.
      const scope = scopeOf(query);
      return accepted(res, async () => {
        const message = await messageFrom(req, readBody);
        hub?.sendToAll(message, scope);
      });
    }
    case 'POST :closeConnections': {
      drain(req);
      if (hub !== undefined) closeAll(ctx, [...hub.sessions.values()], query);
      return respond(res, 204);
    }
    case 'POST :generateToken':
      drain(req);
      return respond(res, 200, { token: mintClientToken(ctx, hubName, query) });
    case 'POST :addToGroups':
    case 'POST :removeFromGroups': {
      const body = parseJson(await readBodyLimited(req, ctx.maxBodyBytes)) as {
        groups?: unknown;
        filter?: unknown;
      };
      const groups = stringList(body.groups);
      if (groups.length === 0 || !groups.every(isGroupName))
        throw badRequest('groups must be a non-empty list');
      const filter =
        typeof body.filter === 'string' && body.filter !== '' ? predicate(body.filter) : undefined;
      if (hub !== undefined) {
        for (const s of [...hub.sessions.values()]) {
          if (filter !== undefined && !filter(s)) continue;
          for (const g of groups) {
            if (route === 'POST :addToGroups') hub.join(s, g);
            else hub.leave(s, g);
          }
        }
      }
      return respond(res, 200);
    }

    case 'DELETE connections/*':
    case 'HEAD connections/*': {
      drain(req);
      const session = hub?.session(a);
      if (method === 'HEAD') return respond(res, session === undefined ? 404 : 200);
      if (session !== undefined)
        ctx.connections.close(session, query.get('reason') ?? 'Closed by the server.');
      return respond(res, 204);
    }
    case 'POST connections/*/:send':
      return accepted(res, async () => {
        const message = await messageFrom(req, readBody);
        const session = hub?.session(a);
        if (session !== undefined) hub?.sendToConnection(session, message);
      });
    case 'DELETE connections/*/groups': {
      drain(req);
      const session = hub?.session(a);
      if (session !== undefined) hub?.leaveAll(session);
      return respond(res, 204);
    }

    case 'HEAD groups/*':
      drain(req);
      return respond(res, hub?.hasGroup(a) === true ? 200 : 404);
    case 'POST groups/*/:send':
      checkGroup(a);
      {
        // Validated even when nobody would receive the message, as the service does.
        const scope = scopeOf(query);
        return accepted(res, async () => {
          const message = await messageFrom(req, readBody, {
            from: 'group',
            group: a,
            fromUserId: undefined,
          });
          hub?.sendToGroup(a, message, scope);
        });
      }
    case 'POST groups/*/:closeConnections':
      drain(req);
      if (hub !== undefined) closeAll(ctx, [...(hub.groupSessions(a) ?? [])], query);
      return respond(res, 204);
    case 'GET groups/*/connections': {
      drain(req);
      return respond(res, 200, connectionsPage(ctx, hubName, a, [...(hub?.groupSessions(a) ?? [])], query));
    }
    case 'PUT groups/*/connections/*': {
      drain(req);
      checkGroup(a);
      const session = hub?.session(b);
      if (hub === undefined || session === undefined) throw notFound(`Connection '${b}' does not exist.`);
      hub.join(session, a);
      return respond(res, 200);
    }
    case 'DELETE groups/*/connections/*': {
      drain(req);
      const session = hub?.session(b);
      if (session !== undefined) hub?.leave(session, a);
      return respond(res, 204);
    }

    case 'PUT permissions/*/connections/*':
    case 'DELETE permissions/*/connections/*':
    case 'HEAD permissions/*/connections/*': {
      drain(req);
      if (!PERMISSIONS.has(a)) throw badRequest(`Unknown permission '${a}'.`);
      const session = hub?.session(b);
      const role = `webpubsub.${a}`;
      const target = query.get('targetName') ?? undefined;
      const scoped = target === undefined || target === '' ? role : `${role}.${target}`;
      if (method === 'HEAD') return respond(res, session?.roles.has(scoped) === true ? 200 : 404);
      if (method === 'PUT') {
        if (session === undefined) throw notFound(`Connection '${b}' does not exist.`);
        session.roles.add(scoped);
        return respond(res, 200);
      }
      if (session !== undefined) {
        session.roles.delete(scoped);
        // Revoking without a target revokes the permission for every group.
        if (scoped === role)
          for (const r of [...session.roles]) if (r.startsWith(`${role}.`)) session.roles.delete(r);
      }
      return respond(res, 204);
    }

    case 'HEAD users/*':
      drain(req);
      return respond(res, hub?.hasUser(a) === true ? 200 : 404);
    case 'POST users/*/:send': {
      // Validated even when nobody would receive the message, as the service does.
      const scope = scopeOf(query);
      return accepted(res, async () => {
        const message = await messageFrom(req, readBody);
        hub?.sendToUser(a, message, scope);
      });
    }
    case 'POST users/*/:closeConnections':
      drain(req);
      if (hub !== undefined) closeAll(ctx, [...(hub.userSessions(a) ?? [])], query);
      return respond(res, 204);
    case 'DELETE users/*/groups':
      drain(req);
      hub?.removeUserFromAllGroups(a);
      return respond(res, 204);
    case 'PUT users/*/groups/*':
      drain(req);
      checkGroup(b);
      // Membership of a user outlives its connections, so the hub must exist to remember it.
      ctx.hubs.getOrCreate(hubName).addUserToGroup(a, b);
      return respond(res, 200);
    case 'DELETE users/*/groups/*':
      drain(req);
      hub?.removeUserFromGroup(a, b);
      return respond(res, 204);
  }
  drain(req);
  throw new HttpError(404, 'NotFound', `Unknown route ${method} ${path}.`);

  /** The body of a send: inbound traffic, free but counted (billing.ts). */
  async function readBody(r: IncomingMessage): Promise<Buffer> {
    const body = await readBodyLimited(r, ctx.maxBodyBytes);
    ctx.hubs.meter.inbound(HubRegistry.keyOf(hubName), body.length);
    return body;
  }
}

/** Runs a send and answers 202; errors (bad body) surface as 4xx. */
async function accepted(res: ServerResponse, send: () => unknown): Promise<void> {
  await send();
  respond(res, 202);
}

type MessageSource = Parameters<typeof OutMessage.create>[0];

/**
 * A REST send's body as a message. Group sends reach clients as group messages (`from: "group"`,
 * the group named, no `fromUserId`), as the SDK's integration test against the service expects
 * (`serviceClient.group(g).sendToAll` → `group-message`); every other REST send is `from: "server"`.
 */
async function messageFrom(
  req: IncomingMessage,
  read: (r: IncomingMessage) => Promise<Buffer>,
  source: MessageSource = { from: 'server' },
): Promise<OutMessage> {
  const contentType = (req.headers['content-type'] ?? 'application/json').toLowerCase();
  const body = await read(req);
  if (contentType.startsWith('application/json')) {
    const text = body.toString('utf8');
    parseJson(text);
    // The body is valid JSON, so it can be spliced into the envelope verbatim.
    return OutMessage.create(source, 'json', text, () => body, body.length);
  }
  if (contentType.startsWith('text/plain')) {
    const text = body.toString('utf8');
    return OutMessage.create(source, 'text', JSON.stringify(text), () => body, body.length);
  }
  if (contentType.startsWith('application/octet-stream')) {
    return OutMessage.create(
      source,
      'binary',
      JSON.stringify(body.toString('base64')),
      () => body,
      body.length,
    );
  }
  throw new HttpError(415, 'UnsupportedMediaType', `Unsupported content type '${contentType}'.`);
}

function scopeOf(query: URLSearchParams): SendScope {
  const excluded = query.getAll('excluded');
  const filter = query.get('filter');
  const scope: SendScope = {};
  if (excluded.length > 0) scope.excluded = new Set(excluded);
  if (filter !== null && filter !== '') scope.filter = predicate(filter);
  return scope;
}

/** Page size when the caller names none (the service documents no default; keep pages bounded). */
const DEFAULT_PAGE_SIZE = 100;

/**
 * One page of a group's members, in connection-id order, as the service pages: `maxpagesize` per
 * page, `top` in total, and a `nextLink` carrying a continuation token (the last id returned, so a
 * member joining or leaving between pages shifts nothing).
 */
function connectionsPage(
  ctx: RestContext,
  hubName: string,
  group: string,
  sessions: Session[],
  query: URLSearchParams,
): { value: Array<{ connectionId: string; userId?: string }>; nextLink?: string } {
  const count = (name: string, fallback: number): number => {
    const raw = query.get(name);
    if (raw === null) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw badRequest(`${name} must be a positive integer`);
    return n;
  };
  const pageSize = count('maxpagesize', DEFAULT_PAGE_SIZE);
  const top = count('top', Number.MAX_SAFE_INTEGER);
  const after = query.get('continuationToken') ?? '';
  const rest = sessions.filter((s) => s.id > after).sort((x, y) => (x.id < y.id ? -1 : 1));
  const take = Math.min(pageSize, top);
  const value = rest
    .slice(0, take)
    .map((s) => (s.userId === undefined ? { connectionId: s.id } : { connectionId: s.id, userId: s.userId }));
  const last = value[value.length - 1];
  if (rest.length <= take || top <= take || last === undefined) return { value };
  const next = new URL(
    `${ctx.endpoint.replace(/\/$/, '')}/api/hubs/${encodeURIComponent(hubName)}/groups/${encodeURIComponent(group)}/connections`,
  );
  next.searchParams.set('api-version', query.get('api-version') ?? '2024-01-01');
  next.searchParams.set('maxpagesize', String(pageSize));
  if (top !== Number.MAX_SAFE_INTEGER) next.searchParams.set('top', String(top - value.length));
  next.searchParams.set('continuationToken', last.connectionId);
  return { value, nextLink: next.toString() };
}

function closeAll(ctx: RestContext, sessions: Session[], query: URLSearchParams): void {
  const excluded = new Set(query.getAll('excluded'));
  const reason = query.get('reason') ?? 'Closed by the server.';
  for (const s of sessions) if (!excluded.has(s.id)) ctx.connections.close(s, reason);
}

/**
 * REST callers authenticate with a JWT signed with the access key (HS256, `aud` = request URL) or,
 * as on the service, with a Microsoft Entra token (RS256, `aud` https://webpubsub.azure.com) that
 * the SDK sends when given a TokenCredential. The header is only decoded when Entra or
 * disableLocalAuth is configured, so the key path (every push) costs what it did.
 */
async function authorize(
  ctx: RestContext,
  authorization: string | undefined,
  rawUrl: string,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (ctx.entra === undefined && ctx.disableLocalAuth !== true)
    return ctx.verifier.verify(authorization, rawUrl);
  const token = bearerToken(authorization);
  if (token === undefined) return { ok: false, reason: 'missing bearer token' };
  if (decodeJwt(token)?.header.alg === 'RS256') {
    if (ctx.entra === undefined) {
      return { ok: false, reason: 'Microsoft Entra tokens are not accepted: no JWKS configured' };
    }
    const check = await ctx.entra.verify(token);
    return check.ok ? { ok: true } : { ok: false, reason: `Microsoft Entra token refused: ${check.reason}` };
  }
  if (ctx.disableLocalAuth === true) {
    return { ok: false, reason: 'Local auth is disabled: use a Microsoft Entra token' };
  }
  return ctx.verifier.verify(authorization, rawUrl);
}

function mintClientToken(ctx: RestContext, hubName: string, query: URLSearchParams): string {
  const minutes = Number(query.get('minutesToExpire') ?? 60);
  if (!Number.isFinite(minutes) || minutes < 1) throw badRequest('minutesToExpire must be at least 1');
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    aud: `${ctx.endpoint.replace(/\/$/, '')}/client/hubs/${hubName}`,
    iat: now,
    exp: now + Math.round(minutes * 60),
  };
  const userId = query.get('userId');
  if (userId !== null && userId !== '') claims.sub = userId;
  const roles = query.getAll('role');
  if (roles.length > 0) claims.role = roles;
  const groups = query.getAll('group');
  if (groups.length > 0) claims['webpubsub.group'] = groups;
  return signJwt(claims, ctx.accessKey);
}

function predicate(filter: string): Predicate {
  try {
    return compileFilter(filter);
  } catch (err) {
    if (err instanceof FilterSyntaxError) throw badRequest(`Invalid filter: ${err.message}`);
    throw err;
  }
}

function checkGroup(group: string): void {
  if (!isGroupName(group)) throw badRequest('Invalid group name.');
}

function parseJson(text: string | Buffer): unknown {
  try {
    return JSON.parse(typeof text === 'string' ? text : text.toString('utf8'));
  } catch {
    throw badRequest('The body is not valid JSON.');
  }
}

function readBodyLimited(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > limit) reject(new HttpError(413, 'PayloadTooLarge', `The message exceeds ${limit} bytes.`));
      else resolve(chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

/** Bodies of requests that carry none still have to be consumed for keep-alive to work. */
function drain(req: IncomingMessage): void {
  if (!req.complete) req.resume();
}

function respond(res: ServerResponse, status: number, body?: unknown): void {
  if (res.headersSent) return;
  if (body === undefined) {
    res.writeHead(status, { 'Content-Length': '0' });
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badRequest('Invalid percent-encoding in the URL.');
  }
}

function badRequest(message: string): HttpError {
  return new HttpError(400, 'BadRequest', message);
}

function notFound(message: string): HttpError {
  return new HttpError(404, 'NotFound', message);
}

export type { Hub };
