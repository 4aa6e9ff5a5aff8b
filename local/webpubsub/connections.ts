/**
 * WebSocket side of the service: authenticates upgrades, runs the client protocols, and keeps
 * reliable sessions alive across socket drops for a recovery window.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { pathOfUrl, stringList, verifyJwt, type JwtClaims } from './auth';
import {
  eventSignature,
  type UpstreamClient,
  type UpstreamResponse,
  type UpstreamTarget,
} from './eventHandler';
import { HubRegistry, type Hub } from './hub';
import {
  ackFrame,
  chooseSubprotocol,
  connectedFrame,
  disconnectedFrame,
  encodeClientData,
  OutMessage,
  parseClientMessage,
  PONG_FRAME,
  protocolOf,
  type AckErrorName,
  type AckId,
  type ClientMessage,
  type DataType,
} from './protocol';
import { Session, type SessionLimits } from './session';

export interface ConnectionOptions {
  accessKey: string;
  limits: SessionLimits;
  /** How long a dropped reliable session waits for its client to come back. */
  recoveryWindowMs: number;
  /** Transport ping interval; a socket that misses one pong is cut. */
  keepAliveIntervalMs: number;
  /** Largest client frame accepted. */
  maxPayloadBytes: number;
}

/** Close codes: 1008 tells the SDK not to attempt recovery; 1001 is a shutdown. */
const CLOSE_FINAL = 1008;
const CLOSE_SHUTDOWN = 1001;
const MAX_PENDING_UPSTREAM = 1000;

interface ConnectDecision {
  userId: string | undefined;
  roles: string[];
  groups: string[];
  /** Connection state set by the `connect` answer, echoed on the connection's later events. */
  state?: string;
}

export class ClientConnections {
  private readonly wss: WebSocketServer;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly closeCodes = new WeakMap<Session, number>();
  /** Every upgraded socket until it closes, so shutdown can wait for (or cut) them. */
  private readonly sockets = new Set<WebSocket>();
  private closing = false;
  private readonly pendingUpstream = new WeakMap<Session, number>();

  constructor(
    private readonly hubs: HubRegistry,
    private readonly upstream: UpstreamClient,
    private readonly options: ConnectionOptions,
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: options.maxPayloadBytes,
      handleProtocols: (offered) => chooseSubprotocol(offered),
    });
    this.heartbeat = setInterval(() => this.pingAll(), options.keepAliveIntervalMs);
    this.heartbeat.unref();
  }

  /** Called by the hub once a session has ended for good. */
  onSessionEnded(session: Session, reason: string): void {
    const ws = session.socket;
    session.socket = undefined;
    if (ws !== undefined && ws.readyState === 1) {
      if (session.protocol !== 'simple') ws.send(disconnectedFrame(reason));
      ws.close(this.closeCodes.get(session) ?? CLOSE_FINAL, truncateReason(reason));
    } else if (ws !== undefined) {
      ws.terminate();
    }
    const hub = this.hubs.get(session.hubKey);
    if (hub !== undefined && this.upstream.handlesSystem(hub.key, 'disconnected')) {
      this.queueUpstream(session, () =>
        this.upstream.post(
          hub.key,
          this.upstreamTarget(session),
          { system: 'disconnected' },
          {
            contentType: 'application/json; charset=utf-8',
            data: JSON.stringify({ reason }),
          },
        ),
      );
    }
  }

  /** Ends a session (REST close, shutdown): final, the client cannot resume it. */
  close(session: Session, reason: string, code = CLOSE_FINAL): void {
    this.closeCodes.set(session, code);
    this.hubs.get(session.hubKey)?.end(session, reason);
  }

  /** Test hook: cuts the socket as a network failure would, leaving the session recoverable. */
  dropSocket(connectionId: string): boolean {
    const ws = this.hubs.findSession(connectionId)?.socket;
    if (ws === undefined) return false;
    ws.terminate();
    return true;
  }

  /** Ends every session, gives clients `graceMs` to complete the close handshake, then cuts the rest. */
  async shutdown(graceMs = 1000): Promise<void> {
    this.closing = true;
    clearInterval(this.heartbeat);
    for (const hub of this.hubs.values()) {
      for (const session of [...hub.sessions.values()]) {
        this.close(session, 'The service is shutting down.', CLOSE_SHUTDOWN);
      }
    }
    const deadline = Date.now() + graceMs;
    while (this.sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // A shared listener: a closure here would pin this whole upgrade context (request, token,
    // claims) to the socket for the life of the connection.
    socket.on('error', destroyOnError);
    if (this.closing) return reject(socket, 503, 'The service is shutting down');
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = /^\/client\/hubs\/([^/]+)\/?$/.exec(url.pathname);
    if (match === null || match[1] === undefined) return reject(socket, 404, 'Not found');
    let hubName: string;
    try {
      hubName = decodeURIComponent(match[1]);
    } catch {
      return reject(socket, 400, 'Invalid hub name');
    }
    const offered = (req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '');
    const chosen = chooseSubprotocol(offered);
    if (offered.length > 0 && chosen === false) return reject(socket, 400, 'Unsupported subprotocol');
    const subprotocol = chosen === false ? undefined : chosen;

    const reconnectId = url.searchParams.get('awps_connection_id');
    const reconnectToken = url.searchParams.get('awps_reconnection_token');
    if (reconnectId !== null && reconnectToken !== null) {
      // Failed recoveries are answered inside the WebSocket with 1008, which is what makes the SDK
      // give up on the old session and start a fresh connection.
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        this.track(ws);
        this.resume(ws, hubName, reconnectId, reconnectToken);
      });
      return;
    }

    const token = url.searchParams.get('access_token') ?? bearer(req.headers.authorization);
    if (token === null) return reject(socket, 401, 'Missing access token');
    const verified = verifyJwt(token, this.options.accessKey);
    if (!verified.ok) return reject(socket, 401, `Invalid access token: ${verified.reason}`);
    if (!audienceMatchesHub(verified.claims.aud, hubName)) {
      return reject(socket, 401, 'Invalid access token: audience does not match this hub');
    }
    const decision: ConnectDecision = {
      userId:
        typeof verified.claims.sub === 'string' && verified.claims.sub !== ''
          ? verified.claims.sub
          : undefined,
      roles: stringList(verified.claims.role),
      groups: stringList(verified.claims['webpubsub.group']),
    };
    const hub = this.hubs.getOrCreate(hubName);
    const connectionId = newConnectionId();
    const accept = (d: ConnectDecision): void => {
      if (this.closing) return reject(socket, 503, 'The service is shutting down');
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        this.track(ws);
        this.open(ws, hub, hubName, connectionId, subprotocol, d);
      });
    };

    if (!this.upstream.handlesSystem(hub.key, 'connect')) return accept(decision);
    // The blocking `connect` event lets the upstream refuse the client or override its identity.
    void this.runConnectEvent(
      hub,
      hubName,
      connectionId,
      subprotocol,
      verified.claims,
      url,
      req,
      decision,
    ).then(
      (result) =>
        typeof result === 'number' ? reject(socket, result, 'Refused by the event handler') : accept(result),
      () => reject(socket, 500, 'The connect event failed'),
    );
  }

  private open(
    ws: WebSocket,
    hub: Hub,
    hubName: string,
    connectionId: string,
    subprotocol: string | undefined,
    decision: ConnectDecision,
  ): void {
    const protocol = protocolOf(subprotocol) ?? 'simple';
    const session = new Session(
      connectionId,
      hub.key,
      decision.userId,
      new Set(decision.roles),
      protocol,
      subprotocol,
      protocol === 'reliable' ? randomBytes(24).toString('base64url') : '',
      this.options.limits,
    );
    signatures.set(session, eventSignature(this.options.accessKey, connectionId));
    displayHubNames.set(session, hubName);
    if (decision.state !== undefined) connectionStates.set(session, decision.state);
    this.attach(session, ws);
    if (protocol !== 'simple') {
      ws.send(
        connectedFrame(
          connectionId,
          decision.userId,
          protocol === 'reliable' ? session.reconnectionToken : undefined,
        ),
      );
    }
    hub.add(session, decision.groups);
    if (this.upstream.handlesSystem(hub.key, 'connected')) {
      this.queueUpstream(session, () =>
        this.upstream.post(
          hub.key,
          this.upstreamTarget(session),
          { system: 'connected' },
          {
            contentType: 'application/json; charset=utf-8',
            data: '{}',
          },
        ),
      );
    }
  }

  private resume(ws: WebSocket, hubName: string, connectionId: string, token: string): void {
    const session = this.hubs.get(hubName)?.session(connectionId);
    const valid =
      session !== undefined &&
      session.state !== 'closed' &&
      session.reliable &&
      ws.protocol === session.subprotocol &&
      sameSecret(token, session.reconnectionToken);
    if (!valid || !session.recoverable) {
      // The owner of a session that lost messages cannot resume it; end it now rather than leave it
      // to the heartbeat, so the client's fresh connection is the only one left.
      if (valid) this.close(session, 'Messages were lost while the client was away.');
      ws.on('error', ignore);
      ws.close(CLOSE_FINAL, 'Invalid reconnection: the session does not exist or has expired.');
      return;
    }
    // The old socket may still look open (half-open TCP); the new one takes over.
    const previous = session.socket;
    session.socket = undefined;
    previous?.terminate();
    if (session.recoveryTimer !== undefined) clearTimeout(session.recoveryTimer);
    session.recoveryTimer = undefined;
    session.state = 'open';
    this.attach(session, ws);
    // Same connectionId and token; the SDK treats this as a resumed session, not a new one.
    ws.send(connectedFrame(session.id, session.userId, session.reconnectionToken));
    session.redeliver();
  }

  private track(ws: WebSocket): void {
    this.sockets.add(ws);
    ws.once('close', () => this.sockets.delete(ws));
  }

  private attach(session: Session, ws: WebSocket): void {
    session.socket = ws;
    session.alive = true;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (session.socket !== ws) return;
      session.alive = true;
      this.onClientFrame(session, data, isBinary);
    });
    ws.on('pong', () => {
      if (session.socket === ws) session.alive = true;
    });
    ws.on('error', ignore);
    ws.on('close', (code: number) => this.onSocketClosed(session, ws, code));
  }

  private onSocketClosed(session: Session, ws: WebSocket, code: number): void {
    if (session.socket !== ws) return;
    session.socket = undefined;
    if (session.state !== 'open') return;
    const hub = this.hubs.get(session.hubKey);
    if (hub === undefined) return;
    // The service keeps a dropped reliable session for at least 30 s (client feature spec 1.4), and
    // clients do close on purpose and resume: Microsoft's reliable-chat sample closes with 3001,
    // mobile browsers send 1001 on network changes. Only a normal closure (1000) or a close frame
    // without a code (1005, what the SDK's stop() sends, after which it never resumes) ends it.
    const leftForGood = code === 1000 || code === 1005;
    if (session.reliable && !leftForGood && session.recoverable && this.options.recoveryWindowMs > 0) {
      session.state = 'recovering';
      session.recoveryTimer = setTimeout(
        () => hub.end(session, 'The client did not reconnect in time.'),
        this.options.recoveryWindowMs,
      );
      session.recoveryTimer.unref();
      return;
    }
    hub.end(session, `The client closed the connection (${code}).`);
  }

  private onClientFrame(session: Session, data: Buffer, isBinary: boolean): void {
    if (session.state !== 'open') return;
    // Inbound is free; counted so a run shows it (pings and acks included: they are client frames).
    this.hubs.get(session.hubKey)?.received(data.length);
    if (session.protocol === 'simple') {
      // Simple WebSocket clients have no envelope: every frame is the `message` user event.
      this.userEvent(session, 'message', isBinary ? 'binary' : 'text', undefined, data);
      return;
    }
    if (isBinary) return;
    const parsed = parseClientMessage(data.toString('utf8'));
    if (!parsed.ok) {
      if (parsed.ackId !== undefined) this.ack(session, parsed.ackId, 'BadRequest', parsed.reason);
      return;
    }
    this.onClientMessage(session, parsed.message);
  }

  private onClientMessage(session: Session, m: ClientMessage): void {
    const hub = this.hubs.get(session.hubKey);
    if (hub === undefined) return;
    switch (m.type) {
      case 'ping':
        session.sendControl(PONG_FRAME);
        return;
      case 'sequenceAck':
        session.acknowledge(m.sequenceId);
        return;
      case 'joinGroup':
      case 'leaveGroup': {
        if (this.rejectDuplicate(session, m.ackId)) return;
        if (!hasRole(session, 'webpubsub.joinLeaveGroup', m.group)) {
          return this.ack(
            session,
            m.ackId,
            'Forbidden',
            `No permission to join or leave group '${m.group}'.`,
          );
        }
        if (m.type === 'joinGroup') hub.join(session, m.group);
        else hub.leave(session, m.group);
        return this.ack(session, m.ackId);
      }
      case 'sendToGroup': {
        if (this.rejectDuplicate(session, m.ackId)) return;
        if (!hasRole(session, 'webpubsub.sendToGroup', m.group)) {
          return this.ack(session, m.ackId, 'Forbidden', `No permission to send to group '${m.group}'.`);
        }
        const encoded = encodeClientData(m.dataType, m.data);
        const message = OutMessage.create(
          { from: 'group', group: m.group, fromUserId: session.userId },
          m.dataType,
          encoded.json,
          encoded.raw,
          encoded.bytes,
        );
        hub.sendToGroup(m.group, message, m.noEcho ? { excluded: new Set([session.id]) } : {});
        return this.ack(session, m.ackId);
      }
      case 'event': {
        if (this.rejectDuplicate(session, m.ackId)) return;
        const raw = m.dataType === 'json' ? JSON.stringify(m.data) : (m.data as string);
        const body = m.dataType === 'binary' ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
        this.userEvent(session, m.event, m.dataType, m.ackId, body);
        return;
      }
      case 'invoke':
        session.sendControl(
          JSON.stringify({
            type: 'invokeResponse',
            invocationId: m.invocationId,
            success: false,
            error: {
              name: 'NotSupported',
              message: 'invoke is not supported by the local Web PubSub service.',
            },
          }),
        );
        return;
      case 'unsupported':
        if (m.ackId !== undefined)
          this.ack(session, m.ackId, 'BadRequest', `Unsupported message type '${m.name}'.`);
        return;
    }
  }

  /** Forwards a user event upstream (in order per connection) and acks once the upstream answered. */
  private userEvent(
    session: Session,
    event: string,
    dataType: DataType,
    ackId: AckId | undefined,
    body: Buffer,
  ): void {
    const hub = this.hubs.get(session.hubKey);
    if (hub === undefined || !this.upstream.handlesUser(hub.key, event)) {
      // Nothing handles it, so it was not processed: the service acks that as a failure.
      if (ackId !== undefined)
        this.ack(session, ackId, 'InternalServerError', 'No event handler for this event.');
      return;
    }
    if ((this.pendingUpstream.get(session) ?? 0) >= MAX_PENDING_UPSTREAM) {
      if (ackId !== undefined)
        this.ack(session, ackId, 'InternalServerError', 'Too many events awaiting the upstream.');
      return;
    }
    this.queueUpstream(session, async () => {
      const response = await this.upstream.post(
        hub.key,
        this.upstreamTarget(session),
        { user: event },
        {
          contentType: CONTENT_TYPES[dataType],
          data: body,
        },
      );
      const ok = response !== undefined && response.status >= 200 && response.status < 300;
      if (ok && response.connectionState !== undefined && !response.repeatedState) {
        // The documented way to reset a connection's state; an empty value is kept and sent as is.
        connectionStates.set(session, response.connectionState);
      }
      if (ok) this.replyFromUpstream(session, response);
      if (ackId === undefined) return;
      if (ok) this.ack(session, ackId);
      else this.ack(session, ackId, 'InternalServerError', 'The event handler did not accept the event.');
    });
  }

  /** The real service sends a user event's upstream response body back to the caller. */
  private replyFromUpstream(session: Session, response: UpstreamResponse): void {
    if (response.status !== 200 || response.body.length === 0 || session.state === 'closed') return;
    const ct = (response.contentType ?? '').toLowerCase();
    const body = response.body;
    let message: OutMessage;
    if (ct.startsWith('application/json')) {
      const text = body.toString('utf8');
      try {
        JSON.parse(text);
      } catch {
        return;
      }
      message = OutMessage.create({ from: 'server' }, 'json', text, () => body, body.length);
    } else if (ct.startsWith('text/')) {
      const text = body.toString('utf8');
      message = OutMessage.create({ from: 'server' }, 'text', JSON.stringify(text), () => body, body.length);
    } else {
      message = OutMessage.create(
        { from: 'server' },
        'binary',
        JSON.stringify(body.toString('base64')),
        () => body,
        body.length,
      );
    }
    this.hubs.get(session.hubKey)?.sendToConnection(session, message);
  }

  private queueUpstream(session: Session, task: () => Promise<unknown>): void {
    this.pendingUpstream.set(session, (this.pendingUpstream.get(session) ?? 0) + 1);
    session.upstreamChain = session.upstreamChain
      .then(task)
      .catch(() => undefined)
      .finally(() => this.pendingUpstream.set(session, (this.pendingUpstream.get(session) ?? 1) - 1));
  }

  private async runConnectEvent(
    hub: Hub,
    hubName: string,
    connectionId: string,
    subprotocol: string | undefined,
    claims: JwtClaims,
    url: URL,
    req: IncomingMessage,
    decision: ConnectDecision,
  ): Promise<ConnectDecision | number> {
    const claimLists: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(claims))
      claimLists[k] = Array.isArray(v) ? v.map(String) : [String(v)];
    const query: Record<string, string[]> = {};
    for (const [k, v] of url.searchParams) if (k !== 'access_token') (query[k] ??= []).push(v);
    const headers: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (k !== 'authorization' && v !== undefined) headers[k] = Array.isArray(v) ? v : [v];
    }
    const target = {
      hub: hubName,
      connectionId,
      userId: decision.userId,
      subprotocol,
      signature: eventSignature(this.options.accessKey, connectionId),
      connectionState: undefined,
    };
    const body = JSON.stringify({
      claims: claimLists,
      query,
      headers,
      subprotocols: subprotocol === undefined ? [] : [subprotocol],
      clientCertificates: [],
    });
    const response = await this.upstream.post(
      hub.key,
      target,
      { system: 'connect' },
      { contentType: 'application/json; charset=utf-8', data: body },
    );
    if (response === undefined || response.repeatedState) return 500;
    const state = response.connectionState;
    if (response.status === 204 || (response.status === 200 && response.body.length === 0))
      return { ...decision, state };
    if (response.status !== 200)
      return response.status >= 400 && response.status < 600 ? response.status : 500;
    try {
      const r = JSON.parse(response.body.toString('utf8')) as Record<string, unknown>;
      return {
        userId: typeof r.userId === 'string' && r.userId !== '' ? r.userId : decision.userId,
        roles: r.roles === undefined ? decision.roles : stringList(r.roles),
        groups: r.groups === undefined ? decision.groups : stringList(r.groups),
        state,
      };
    } catch {
      return 500;
    }
  }

  private upstreamTarget(session: Session): UpstreamTarget {
    return {
      hub: displayHubNames.get(session) ?? session.hubKey,
      connectionId: session.id,
      userId: session.userId,
      subprotocol: session.subprotocol,
      signature: signatures.get(session) ?? eventSignature(this.options.accessKey, session.id),
      connectionState: connectionStates.get(session),
    };
  }

  private rejectDuplicate(session: Session, ackId: AckId | undefined): boolean {
    if (!session.isDuplicateAck(ackId)) return false;
    this.ack(session, ackId, 'Duplicate', `Message with ack-id: ${String(ackId)} has been processed.`);
    return true;
  }

  private ack(session: Session, ackId: AckId | undefined, error?: AckErrorName, message?: string): void {
    if (ackId === undefined) return;
    if (error === undefined) session.rememberAck(ackId);
    session.sendControl(
      ackFrame(ackId, error === undefined ? undefined : { name: error, message: message ?? error }),
    );
  }

  private pingAll(): void {
    for (const hub of this.hubs.values()) {
      for (const session of hub.sessions.values()) {
        const ws = session.socket;
        if (ws === undefined) continue;
        if (!session.alive) {
          ws.terminate();
          continue;
        }
        session.alive = false;
        ws.ping();
      }
    }
  }
}

const CONTENT_TYPES: Record<DataType, string> = {
  json: 'application/json; charset=utf-8',
  text: 'text/plain; charset=utf-8',
  binary: 'application/octet-stream',
};

// Per-session values only the connection layer needs; kept off the hot `Session` object.
const signatures = new WeakMap<Session, string>();
const displayHubNames = new WeakMap<Session, string>();
const connectionStates = new WeakMap<Session, string>();

function hasRole(session: Session, role: string, group: string): boolean {
  return session.roles.has(role) || session.roles.has(`${role}.${group}`);
}

function audienceMatchesHub(aud: unknown, hubName: string): boolean {
  // Any host is accepted: the token names the endpoint it was issued for, which may be a proxy.
  const expected = `/client/hubs/${hubName}`.toLowerCase();
  return stringList(aud).some((a) => {
    const path = pathOfUrl(a);
    if (path === undefined) return false;
    const bare = path.split('?')[0]?.replace(/\/+$/, '').toLowerCase();
    return bare === expected || safeDecode(bare) === expected;
  });
}

function safeDecode(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Socket errors are followed by `close`, which is where the session is handled. */
function ignore(): void {}

function destroyOnError(this: Duplex): void {
  this.destroy();
}

function bearer(header: string | undefined): string | null {
  return header !== undefined && header.startsWith('Bearer ') ? header.slice(7).trim() : null;
}

function newConnectionId(): string {
  return randomBytes(15).toString('base64url');
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** WebSocket close reasons are limited to 123 bytes. */
function truncateReason(reason: string): string {
  let r = reason;
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}

function reject(socket: Duplex, status: number, message: string): void {
  if (!socket.writable) return void socket.destroy();
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(message)}\r\n\r\n${message}`,
  );
}

export { HubRegistry };
