/**
 * The typed meetstream client: one object per participant that keeps an exact, gapless copy of
 * the meeting's envelope sequence and hands it out as typed events.
 *
 * Every transport feeds the same pipeline: envelopes are delivered strictly in seq order, each
 * exactly once (`lastSeq + 1` only; duplicates dropped, early ones held back), and any hole is
 * filled from `GET …/events?after=` before delivery continues. On WebSocket every fresh connection
 * (after a hub restart or an outage longer than the reliable session's recovery window) starts a
 * catch-up, so an outage of any length ends with the same sequence as never dropping. SSE and
 * long-poll read the same log directly, resuming after `lastSeq`.
 *
 * Browser- and Node-safe: fetch, TextDecoder, AbortController and @azure/web-pubsub-client only.
 */
import { WebPubSubClient, type WebPubSubClientOptions } from '@azure/web-pubsub-client';
import type {
  AnalyticsData,
  Envelope,
  EventsPage,
  StateData,
  TypedAnalyticsEnvelope,
  TypedEventEnvelope,
  TypedStateEnvelope,
} from '../lib/protocol/envelopes';
import type { EventType, OutgoingEvent } from '../lib/protocol/events';
import {
  MeetstreamError,
  MeetstreamHttp,
  envelopesOf,
  errorText,
  isAbort,
  joinMeeting,
  tokenExpiry,
  type Joined,
  type TokenSource,
} from './http';
import { globalEventSource, readSse, type EventSourceFactory, type SseMessage } from './sse';

export type Transport = 'websocket' | 'sse' | 'long-poll';
export type ConnectionStatus = 'idle' | 'connecting' | 'live' | 'reconnecting' | 'stopped';

export type { TypedEventEnvelope };

export interface GapInfo {
  /** First missing seq. */
  from: number;
  /** Last missing seq known so far (the seq before the first one held back), or undefined. */
  to?: number;
  /** `push`: a pushed batch skipped seqs; `reconnect`: a fresh connection; `expired`: retention. */
  reason: 'push' | 'reconnect' | 'expired';
}

export interface MeetstreamClientOptions {
  /** API base including the route prefix, e.g. `http://localhost:7071/api`. */
  baseUrl: string;
  meetingId: string;
  /** The participant token, or a function returning the current one (called per request). */
  token: TokenSource;
  /** `auto` (default): WebSocket, falling back to SSE when WebSocket is unavailable. */
  transport?: 'auto' | Transport;
  /** Deliver envelopes after this seq (default 0: the whole retained log). Pass a saved `lastSeq` to resume. */
  after?: number;
  fetch?: typeof fetch;
  /** Options for @azure/web-pubsub-client (keep-alive, retries, …). */
  webPubSub?: WebPubSubClientOptions;
  /** While on WebSocket, also catch up this often (safety net for a push lost without a disconnect). Default 30 s; 0 = off. */
  syncIntervalMs?: number;
  /** In `auto` mode, how long WebSocket gets to connect before SSE takes over. Default 10 s. */
  webSocketTimeoutMs?: number;
  /** In `auto` mode on the SSE fallback, how often to try WebSocket again. Default 60 s; 0 = never. */
  webSocketRetryMs?: number;
  /** Long-poll wait per request, seconds (server caps at 30). Default 25. */
  longPollSeconds?: number;
  /**
   * Long-poll: least time from one request to the next. Default 500 ms, i.e. at most 2 requests/s
   * however busy the meeting, well inside the server's per-participant request budget; it only
   * delays delivery when envelopes arrive faster than that, and then by less than the interval.
   */
  longPollIntervalMs?: number;
  /** Longest wait for an HTTP answer (beyond a long-poll's own wait) before it is retried. Default 20 s. */
  requestTimeoutMs?: number;
  /** Envelopes per catch-up request. Default 500. */
  pageSize?: number;
  /** `token-expiring` fires this long before the participant token expires. Default 5 min. */
  tokenRefreshMarginMs?: number;
  /** SSE implementation: fetch streams (default when available) or EventSource (token in the URL). */
  sse?: 'fetch' | 'eventsource';
  /** EventSource constructor for `sse: 'eventsource'` (default: the global one). */
  eventSource?: EventSourceFactory;
}

type Listener<A extends unknown[]> = (...args: A) => void;

interface ClientEvents {
  envelope: [Envelope];
  event: [TypedEventEnvelope];
  state: [TypedStateEnvelope];
  analytics: [TypedAnalyticsEnvelope];
  gap: [GapInfo];
  status: [ConnectionStatus, Transport | undefined];
  'token-expiring': [{ expiresAt: Date }];
  error: [Error];
}

const MAX_HELD = 10_000;
const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Web PubSub client internals used only to work around its stop/handshake gaps (see their uses). */
interface SocketLike {
  readyState: number;
  terminate?: () => void;
  close?: () => void;
}
interface WebPubSubInternals {
  _isStopping?: boolean;
  _state?: string;
  _wsClient?: { _socket?: SocketLike };
}

/**
 * The Web PubSub client's two keep-alive rounds (ping, and the check that closes a silent
 * connection) sleep between runs with a delay that their abort does not cut (1.0.4: AbortableTask
 * awaits core-util's delay without the signal), so after stop() their timers hold a Node process
 * open for up to 20 s and 40 s. This client gives the SDK stand-ins that are never scheduled and
 * runs the same two rounds on its own timers, which stop() clears. Without the internals (another
 * SDK version) the SDK keeps its own rounds.
 */
interface KeepAliveInternals {
  _keepAliveIntervalInMs?: number;
  _keepAliveTimeoutInMs?: number;
  _pingKeepaliveTask?: { abort(): void };
  _timeoutMonitorTask?: { abort(): void };
  _trySendPing?: () => Promise<void>;
  _checkKeepAliveTimeout?: () => Promise<void>;
}

/** Before each start(): the SDK creates its rounds only where none exists. */
function takeOverKeepAlive(wps: WebPubSubClient): KeepAliveInternals | undefined {
  const w = wps as unknown as KeepAliveInternals;
  if (typeof w._trySendPing !== 'function' || typeof w._checkKeepAliveTimeout !== 'function')
    return undefined;
  const standIn = { abort: () => undefined };
  w._pingKeepaliveTask = standIn;
  w._timeoutMonitorTask = standIn;
  return w;
}

function socketOf(wps: WebPubSubClient): SocketLike | undefined {
  return (wps as unknown as WebPubSubInternals)._wsClient?._socket;
}

/**
 * Makes sure a stopped Web PubSub client really stops. Its stop() only works while its socket is
 * open: during session recovery or reconnect attempts it is ignored (it clears its stopping flag
 * at once), and the client would go on reconnecting for ever. This drives it to `Stopped` from
 * whatever state it is in: stop() once it is connected again, the stopping flag while it waits
 * between reconnect attempts (where that flag ends the loop; in 1.0.4's recovery loop the same flag
 * would spin for ever, so it is not set there), and a cut for a handshake that hangs.
 */
function reap(wps: WebPubSubClient, startedAt = Date.now()): void {
  const internals = wps as unknown as WebPubSubInternals;
  const state = internals._state;
  if (state === 'Stopped' || Date.now() - startedAt > 120_000) return;
  const socket = socketOf(wps);
  if (state === 'Connected' && socket?.readyState === 1) wps.stop();
  else if (state === 'Disconnected' && internals._isStopping === false) internals._isStopping = true;
  else if (socket?.readyState === 0 && Date.now() - startedAt > 2000) abortSocket(socket);
  setTimeout(() => reap(wps, startedAt), 250);
}

/** Ends a socket at once (Node's ws: terminate; browsers: close, which also aborts a handshake). */
function abortSocket(socket: SocketLike | undefined): void {
  try {
    if (socket?.terminate) socket.terminate();
    else socket?.close?.();
  } catch {
    // already closed
  }
}
const NOT_RETRYABLE = new Set([400, 401, 403, 404]);

/**
 * A stream refused before it ever worked: start() fails. Later (an expired token) the transport
 * keeps trying, so a token given to setToken() picks the stream up again.
 */
function refusedAtStart(err: unknown, wasLive: boolean): boolean {
  return !wasLive && err instanceof MeetstreamError && NOT_RETRYABLE.has(err.status);
}

export class MeetstreamClient {
  /** Joins a meeting with its join code (a new participant) and returns its token. */
  static join(opts: {
    baseUrl: string;
    meetingId: string;
    displayName: string;
    joinCode: string;
    fetch?: typeof fetch;
  }): Promise<Joined> {
    return joinMeeting(opts);
  }

  readonly meetingId: string;
  private readonly http: MeetstreamHttp;
  private readonly opts: MeetstreamClientOptions;
  // Listeners are stored untyped; on() and emit() keep each event's arguments typed.
  private readonly listeners = new Map<keyof ClientEvents, Set<(...args: unknown[]) => void>>();
  private seq: number;
  private readonly held = new Map<number, Envelope>();
  private catchUpRun?: Promise<void>;
  private catchUpWanted = false;
  private run?: AbortController;
  private wps?: WebPubSubClient;
  private group?: string;
  private current?: Transport;
  private statusValue: ConnectionStatus = 'idle';
  private timers = new Set<ReturnType<typeof setTimeout>>();
  private tokenTimer?: ReturnType<typeof setTimeout>;
  private connection?: string;

  constructor(options: MeetstreamClientOptions) {
    this.opts = options;
    this.meetingId = options.meetingId;
    this.seq = options.after ?? 0;
    this.http = new MeetstreamHttp(
      options.baseUrl,
      options.meetingId,
      options.token,
      options.fetch,
      options.requestTimeoutMs,
    );
  }

  /** Seq of the last envelope delivered (everything up to it was delivered, in order, once). */
  get lastSeq(): number {
    return this.seq;
  }

  get status(): ConnectionStatus {
    return this.statusValue;
  }

  /** The transport in use, once started. */
  get transport(): Transport | undefined {
    return this.current;
  }

  /** The underlying Web PubSub client while on WebSocket (advanced use and tests). */
  get webPubSubClient(): WebPubSubClient | undefined {
    return this.wps;
  }

  /** Web PubSub connection id of the current WebSocket connection. */
  get connectionId(): string | undefined {
    return this.connection;
  }

  // ---------- typed subscriptions (each returns its unsubscribe) ----------

  on<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    const stored = listener as unknown as (...args: unknown[]) => void;
    set.add(stored);
    return () => set.delete(stored);
  }

  /** Every envelope, in seq order, once. */
  onEnvelope(listener: (envelope: Envelope) => void): () => void {
    return this.on('envelope', listener);
  }

  /** Event envelopes of one type (or all with `'*'`), with `data` typed. */
  onEvent<T extends EventType>(
    type: T | '*',
    listener: (envelope: TypedEventEnvelope<T>) => void,
  ): () => void {
    return this.on('event', (e) => {
      if (type === '*' || e.type === type) listener(e as TypedEventEnvelope<T>);
    });
  }

  onChat(listener: (envelope: TypedEventEnvelope<'chat.message'>) => void): () => void {
    return this.onEvent('chat.message', listener);
  }

  onReaction(listener: (envelope: TypedEventEnvelope<'reaction'>) => void): () => void {
    return this.onEvent('reaction', listener);
  }

  onCaption(listener: (envelope: TypedEventEnvelope<'caption.segment'>) => void): () => void {
    return this.onEvent('caption.segment', listener);
  }

  /** State envelopes of one type (roster, hands, polls, speaker, status) or all of them. */
  onState<K extends keyof StateData>(
    type: K | '*',
    listener: (data: StateData[K], envelope: Extract<TypedStateEnvelope, { type: K }>) => void,
  ): () => void {
    return this.on('state', (e) => {
      if (type === '*' || e.type === type)
        listener(e.data as StateData[K], e as Extract<TypedStateEnvelope, { type: K }>);
    });
  }

  /** Analytics envelopes of one type (chatRate, reactions, talkTime, …) or all of them. */
  onAnalytics<K extends keyof AnalyticsData>(
    type: K | '*',
    listener: (data: AnalyticsData[K], envelope: Extract<TypedAnalyticsEnvelope, { type: K }>) => void,
  ): () => void {
    return this.on('analytics', (e) => {
      if (type === '*' || e.type === type) {
        listener(e.data as AnalyticsData[K], e as Extract<TypedAnalyticsEnvelope, { type: K }>);
      }
    });
  }

  /** Roster changes, including presence (`away`/`back`: `participant.connected`). */
  onRoster(listener: (data: StateData['roster']) => void): () => void {
    return this.onState('roster', listener);
  }

  onGap(listener: (gap: GapInfo) => void): () => void {
    return this.on('gap', listener);
  }

  onStatus(listener: (status: ConnectionStatus, transport: Transport | undefined) => void): () => void {
    return this.on('status', listener);
  }

  /** The participant token expires soon: call setToken() with a new one (see docs/client.md). */
  onTokenExpiring(listener: (info: { expiresAt: Date }) => void): () => void {
    return this.on('token-expiring', listener);
  }

  onError(listener: (error: Error) => void): () => void {
    return this.on('error', listener);
  }

  // ---------- lifecycle ----------

  /**
   * Connects and catches up. Resolves once live; rejects when the token is refused (401/403) or
   * the meeting does not exist. Transient failures are retried until stop().
   */
  async start(): Promise<void> {
    if (this.run) throw new Error('already started');
    const run = (this.run = new AbortController());
    this.setStatus('connecting');
    this.watchToken();
    const mode = this.opts.transport ?? 'auto';
    try {
      if (mode === 'websocket') await this.startWebSocket(run.signal);
      else if (mode === 'sse') await this.startSse(run.signal);
      else if (mode === 'long-poll') await this.startLongPoll(run.signal);
      else await this.startAuto(run.signal);
    } catch (err) {
      if (this.run === run) await this.stop();
      throw err;
    }
  }

  /** Disconnects. `lastSeq` is kept: start() again (or a new client with `after`) resumes exactly. */
  async stop(): Promise<void> {
    const run = this.run;
    this.run = undefined;
    run?.abort();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    clearTimeout(this.tokenTimer);
    await this.stopWebSocket();
    await this.catchUpRun?.catch(() => undefined);
    this.current = undefined;
    this.setStatus('stopped');
  }

  /** Fetches anything missing now; resolves when caught up with the log as read. */
  sync(): Promise<void> {
    return this.requestCatchUp(true);
  }

  /** Replaces the participant token (e.g. before it expires); used from the next request on. */
  setToken(token: TokenSource): void {
    this.http.setToken(token);
    if (this.run) this.watchToken();
  }

  /**
   * Posts one event or a batch (≤ 100) for this participant: `data` is typed by `type` and may be
   * left out for the types whose data is empty (`hand.raise`, `speaking.start`, `speaking.stop`).
   */
  send(
    events: OutgoingEvent | OutgoingEvent[],
  ): Promise<{ accepted: Array<{ id: string; [key: string]: unknown }> }> {
    return this.http.post('/events', Array.isArray(events) ? { events } : events, this.run?.signal);
  }

  /** One page of the log after `after` (the catch-up route), without delivering it. */
  readEvents(after: number, limit?: number): Promise<EventsPage> {
    return this.http.readEvents(after, limit);
  }

  // ---------- the delivery pipeline ----------

  /** Delivers what is next in order, holds back what is early, drops what was seen. */
  private accept(envelopes: Envelope[], source: 'push' | 'read'): void {
    let early: number | undefined;
    for (const e of [...envelopes].sort((a, b) => a.seq - b.seq)) {
      if (e.meetingId !== this.meetingId || !Number.isSafeInteger(e.seq) || e.seq <= this.seq) continue;
      if (e.seq === this.seq + 1) {
        this.deliver(e);
        this.drainHeld();
      } else {
        if (this.held.size < MAX_HELD) this.held.set(e.seq, e);
        early ??= e.seq;
      }
    }
    if (early !== undefined && this.held.size > 0) {
      if (source === 'push') this.emit('gap', { from: this.seq + 1, to: early - 1, reason: 'push' });
      void this.requestCatchUp();
    }
  }

  private drainHeld(): void {
    for (let next = this.held.get(this.seq + 1); next; next = this.held.get(this.seq + 1)) {
      this.held.delete(next.seq);
      this.deliver(next);
    }
    for (const seq of this.held.keys()) if (seq <= this.seq) this.held.delete(seq);
  }

  private deliver(e: Envelope): void {
    this.seq = e.seq;
    this.emit('envelope', e);
    if (e.kind === 'event') this.emit('event', e as TypedEventEnvelope);
    else if (e.kind === 'state') this.emit('state', e as unknown as TypedStateEnvelope);
    else if (e.kind === 'analytics') this.emit('analytics', e as unknown as TypedAnalyticsEnvelope);
  }

  /**
   * Single-flight catch-up: a request during a run makes the run go round once more. `fresh`
   * (a new connection, or the app asking) also cuts a retry pause short: the pause is there for a
   * failing API, and a connection that just came up is the best sign that it is back.
   */
  private requestCatchUp(fresh = false): Promise<void> {
    this.catchUpWanted = true;
    if (fresh) this.wakeCatchUp?.();
    this.catchUpRun ??= (async () => {
      try {
        while (this.catchUpWanted && this.run) {
          this.catchUpWanted = false;
          await this.catchUp(this.run.signal);
        }
      } finally {
        this.catchUpRun = undefined;
      }
    })();
    return this.catchUpRun;
  }

  /** Reads the log after lastSeq until it reaches the end and nothing held back is missing. */
  private async catchUp(signal: AbortSignal): Promise<void> {
    for (let attempt = 0; !signal.aborted;) {
      let page: EventsPage;
      try {
        page = await this.http.readEvents(this.seq, this.opts.pageSize ?? 500, undefined, signal);
      } catch (err) {
        if (isAbort(err) || signal.aborted) return;
        if (this.skipExpired(err)) continue;
        this.reportError(err);
        const delay = backoff(++attempt, err);
        // The server's Retry-After (429/503) is honoured as it is; other failures may be retried early.
        if (err instanceof MeetstreamError && err.retryAfterMs) await this.pause(delay, signal);
        else if (await this.retryPause(delay, signal)) attempt = 0;
        continue;
      }
      const before = this.seq;
      this.accept(page.items, 'read');
      if (this.seq > before) attempt = 0;
      if (page.continuation !== null && page.items.length > 0) continue;
      if (this.held.size === 0) return;
      // Something pushed is not readable yet (a replica behind the one that served the push).
      await this.pause(backoff(++attempt), signal);
    }
  }

  private wakeCatchUp?: () => void;

  /** A pause that requestCatchUp(fresh) ends early; resolves true when it was ended early. */
  private async retryPause(ms: number, signal: AbortSignal): Promise<boolean> {
    const wake = new AbortController();
    const onAbort = () => wake.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    let woken = false;
    this.wakeCatchUp = () => {
      woken = true;
      wake.abort();
    };
    try {
      await sleep(ms, wake.signal);
      return woken;
    } finally {
      this.wakeCatchUp = undefined;
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** 410 from the log: what we need expired; move on to what is left and say so. */
  private skipExpired(err: unknown): boolean {
    if (!(err instanceof MeetstreamError) || err.status !== 410) return false;
    const first = Number(err.problem?.firstAvailableSeq);
    if (!Number.isSafeInteger(first) || first <= this.seq + 1) return false;
    this.emit('gap', { from: this.seq + 1, to: first - 1, reason: 'expired' });
    this.seq = first - 1;
    this.drainHeld();
    return true;
  }

  // ---------- WebSocket (Web PubSub) ----------

  private async startAuto(signal: AbortSignal): Promise<void> {
    const timeoutMs = this.opts.webSocketTimeoutMs ?? 10_000;
    try {
      await withTimeout(this.startWebSocket(signal), timeoutMs, 'WebSocket did not connect in time');
      return;
    } catch (err) {
      if (signal.aborted || (err instanceof MeetstreamError && NOT_RETRYABLE.has(err.status))) throw err;
      this.reportError(new Error(`WebSocket unavailable, falling back to SSE: ${errorText(err)}`));
      await this.stopWebSocket();
    }
    await this.startSse(signal);
    this.scheduleUpgrade(signal);
  }

  /** On the SSE fallback, tries WebSocket again now and then; both feed the same pipeline. */
  private scheduleUpgrade(signal: AbortSignal): void {
    const every = this.opts.webSocketRetryMs ?? 60_000;
    if (every <= 0) return;
    this.later(every, async () => {
      if (signal.aborted || this.current !== 'sse') return;
      try {
        await withTimeout(this.startWebSocket(signal), this.opts.webSocketTimeoutMs ?? 10_000, 'timeout');
        this.sseRun?.abort();
      } catch {
        await this.stopWebSocket();
        this.scheduleUpgrade(signal);
      }
    });
  }

  private async startWebSocket(signal: AbortSignal): Promise<void> {
    const wps = new WebPubSubClient(
      {
        // Called for every fresh connection: re-negotiates with the current participant token, so
        // the client access URL is always new (it is not needed again for session recovery).
        getClientAccessUrl: async () => {
          // A client being stopped (or replaced) must not open a new connection.
          if (signal.aborted || this.wps !== wps) throw new Error('client stopped');
          try {
            const negotiated = await this.http.negotiate(signal);
            this.group = negotiated.group;
            return negotiated.url;
          } catch (err) {
            if (!isAbort(err)) this.reportError(err);
            // The Web PubSub client retries at once; do not hammer a refusing or limiting API.
            if (err instanceof MeetstreamError && err.retryAfterMs) await sleep(err.retryAfterMs, signal);
            else if (
              err instanceof MeetstreamError &&
              NOT_RETRYABLE.has(err.status) &&
              this.statusValue !== 'connecting'
            ) {
              await sleep(5000, signal);
            }
            throw err;
          }
        },
      },
      this.opts.webPubSub,
    );
    this.wps = wps;
    const onData = (data: unknown) => this.accept(envelopesOf(data), 'push');
    // Pushes are REST sends to the meeting's group: they arrive as group messages.
    wps.on('group-message', (e) => onData(e.message.data));
    let connections = 0;
    wps.on('connected', (e) => {
      if (this.wps !== wps) return;
      this.connection = e.connectionId;
      this.current = 'websocket';
      this.setStatus('live');
      // A fresh connection (not a recovered session): what was pushed meanwhile is only in the log.
      if (connections++ > 0) this.emit('gap', { from: this.seq + 1, reason: 'reconnect' });
      void this.requestCatchUp(true);
    });
    wps.on('disconnected', () => {
      if (this.wps === wps && this.run) this.setStatus('reconnecting');
    });
    this.watchSocket(wps, signal);
    wps.on('stopped', () => {
      // The Web PubSub client gave up reconnecting: start it over while we are running.
      if (this.wps !== wps || !this.run || signal.aborted) return;
      this.setStatus('reconnecting');
      void this.restartWebSocket(wps, signal);
    });
    // Transient failures (hub or API briefly down) are retried; a refused token is not.
    this.keepAlive(wps, signal);
    for (let attempt = 1; ; attempt++) {
      try {
        takeOverKeepAlive(wps);
        await wps.start();
        break;
      } catch (err) {
        if (signal.aborted || this.wps !== wps) throw err;
        if (err instanceof MeetstreamError && NOT_RETRYABLE.has(err.status)) throw err;
        this.reportError(err);
        this.setStatus('reconnecting');
        await this.pause(backoff(attempt, err), signal);
      }
    }
    // The token's group claim already put the connection in the group; joining it explicitly also
    // makes the Web PubSub client re-join it on every fresh connection. Not fatal if it fails.
    if (this.group) await wps.joinGroup(this.group).catch((err: unknown) => this.reportError(err));
    this.startSyncTimer(signal);
    await this.requestCatchUp();
  }

  private async stopWebSocket(): Promise<void> {
    const wps = this.wps;
    this.wps = undefined;
    if (!wps) return;
    await new Promise<void>((resolve) => {
      const timers: Array<ReturnType<typeof setTimeout>> = [];
      const done = () => {
        timers.forEach(clearTimeout);
        resolve();
      };
      wps.on('stopped', done);
      wps.stop();
      // Never started, or its start failed: it is stopped already and will not say so.
      if ((wps as unknown as WebPubSubInternals)._state === 'Stopped') return done();
      reap(wps);
      timers.push(setTimeout(done, 3000));
    });
  }

  /**
   * The Web PubSub client sets no WebSocket handshake timeout: an attempt whose handshake never
   * completes (a half-started hub, a black-holed network) would stall its reconnect or session
   * recovery for ever. A socket still connecting after HANDSHAKE_TIMEOUT_MS is cut, so the client
   * moves on to its next attempt. The same once-a-second look keeps the status honest while the
   * client silently recovers a session (see below).
   */
  private watchSocket(wps: WebPubSubClient, signal: AbortSignal): void {
    let seen: SocketLike | undefined;
    let since = 0;
    let recovering = false;
    const check = () =>
      this.later(1000, () => {
        if (signal.aborted || this.wps !== wps) return;
        const socket = socketOf(wps);
        if (socket?.readyState !== 0) seen = undefined;
        else if (socket !== seen) [seen, since] = [socket, Date.now()];
        else if (Date.now() - since > HANDSHAKE_TIMEOUT_MS) {
          abortSocket(socket);
          seen = undefined;
        }
        // While it recovers a reliable session the Web PubSub client emits nothing (no
        // `disconnected`), for up to its recovery window: a socket that is not open means this
        // client is not live, whatever was last said, and the app must be able to show it.
        const open = socket?.readyState === 1;
        if (this.current === 'websocket') {
          if (!open && this.statusValue === 'live') {
            recovering = true;
            this.setStatus('reconnecting');
          } else if (open && recovering) {
            recovering = false;
            if (this.statusValue === 'reconnecting') this.setStatus('live');
            void this.requestCatchUp(true).catch(() => undefined);
          }
        }
        check();
      });
    check();
  }

  /** The Web PubSub client's keep-alive rounds, on this client's timers (see takeOverKeepAlive). */
  private keepAlive(wps: WebPubSubClient, signal: AbortSignal): void {
    const w = takeOverKeepAlive(wps);
    if (!w) return;
    const every = (ms: number, round: () => Promise<void>) => {
      if (!(ms > 0)) return;
      const tick = () =>
        this.later(ms, async () => {
          if (signal.aborted || this.wps !== wps) return;
          tick();
          await round.call(w);
        });
      tick();
    };
    every(w._keepAliveIntervalInMs ?? 20_000, w._trySendPing!);
    every(Math.floor((w._keepAliveTimeoutInMs ?? 120_000) / 3), w._checkKeepAliveTimeout!);
  }

  private async restartWebSocket(wps: WebPubSubClient, signal: AbortSignal): Promise<void> {
    for (let attempt = 1; this.wps === wps && !signal.aborted; attempt++) {
      await this.pause(backoff(attempt), signal);
      if (this.wps !== wps || signal.aborted) return;
      try {
        takeOverKeepAlive(wps);
        await wps.start();
        return;
      } catch (err) {
        this.reportError(err);
      }
    }
  }

  private startSyncTimer(signal: AbortSignal): void {
    const every = this.opts.syncIntervalMs ?? 30_000;
    if (every <= 0) return;
    const tick = () =>
      this.later(every, async () => {
        if (signal.aborted) return;
        // Not awaited: a slow catch-up must never stop this safety net from re-arming.
        if (this.current === 'websocket') void this.requestCatchUp().catch(() => undefined);
        tick();
      });
    tick();
  }

  // ---------- SSE ----------

  private sseRun?: AbortController;

  private async startSse(signal: AbortSignal): Promise<void> {
    const run = new AbortController();
    this.sseRun = run;
    signal.addEventListener('abort', () => run.abort(), { once: true });
    const useEventSource =
      this.opts.sse === 'eventsource' || (typeof ReadableStream === 'undefined' && !!globalEventSource());
    let live!: () => void;
    let failed!: (err: unknown) => void;
    const ready = new Promise<void>((resolve, reject) => {
      live = resolve;
      failed = reject;
    });
    const loop = useEventSource
      ? this.sseViaEventSource(run.signal, live, failed)
      : this.sseViaFetch(run.signal, live, failed);
    void loop.then(() => failed(new Error('stopped')));
    await ready;
    // The stream replays what was missed after its head arrives; start() promises it delivered, so
    // read it from the log now (what the stream then repeats is dropped as already seen).
    await this.initialCatchUp();
  }

  /**
   * start()'s catch-up: resolves when it is done, or at its first failure (an API that is down
   * must not hold start() for ever; the catch-up goes on retrying behind it).
   */
  private async initialCatchUp(): Promise<void> {
    let off: (() => void) | undefined;
    const failed = new Promise<void>((resolve) => (off = this.on('error', () => resolve())));
    try {
      await Promise.race([this.requestCatchUp(), failed]);
    } finally {
      off?.();
    }
  }

  private async sseViaFetch(
    signal: AbortSignal,
    live: () => void,
    failed: (err: unknown) => void,
  ): Promise<void> {
    let wasLive = false;
    for (let attempt = 0; !signal.aborted;) {
      try {
        const url = this.http.url('/events/stream', { after: this.seq });
        const headers = { accept: 'text/event-stream', 'last-event-id': String(this.seq) };
        await this.http.request(url, { signal, headers, bodyTimeout: false }, async (res) => {
          if (!res.ok) throw await MeetstreamError.from(res, 'event stream');
          if (!res.body || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
            throw new MeetstreamError('event stream: not text/event-stream', res.status);
          }
          this.current = 'sse';
          this.setStatus('live');
          wasLive = true;
          live();
          attempt = 0;
          await readSse(res.body, (m) => this.onSseMessage(m));
        });
        // The server ends streams after a while; reconnect at once from lastSeq.
      } catch (err) {
        if (signal.aborted || isAbort(err)) return;
        if (this.skipExpired(err)) continue;
        if (refusedAtStart(err, wasLive)) return failed(err);
        await this.reconnectAfter(err, ++attempt, signal);
      }
    }
  }

  /** After a failed read (stream or long-poll): report it, say so, and wait this attempt's back-off. */
  private async reconnectAfter(err: unknown, attempt: number, signal: AbortSignal): Promise<void> {
    this.reportError(err);
    this.setStatus('reconnecting');
    await this.pause(backoff(attempt, err), signal);
  }

  private async sseViaEventSource(
    signal: AbortSignal,
    live: () => void,
    failed: (err: unknown) => void,
  ): Promise<void> {
    const factory = this.opts.eventSource ?? globalEventSource();
    if (!factory) return failed(new Error('no EventSource in this environment'));
    let wasLive = false;
    for (let attempt = 0; !signal.aborted;) {
      // EventSource cannot send headers: a 30-second stream ticket goes in the URL (never the
      // participant token, which URLs would leak into logs), and it would resume with the
      // Last-Event-ID it saw; we reconnect ourselves instead so `after` is always our lastSeq.
      let url: string;
      try {
        const { ticket } = await this.http.streamTicket(signal);
        url = this.http.url('/events/stream', { after: this.seq, ticket });
      } catch (err) {
        if (signal.aborted || isAbort(err)) return;
        if (refusedAtStart(err, wasLive)) return failed(err);
        await this.reconnectAfter(err, ++attempt, signal);
        continue;
      }
      const ended = await new Promise<'closed' | 'error'>((resolve) => {
        const source = factory(url);
        const close = (how: 'closed' | 'error') => {
          source.close();
          signal.removeEventListener('abort', onAbort);
          resolve(how);
        };
        const onAbort = () => close('closed');
        signal.addEventListener('abort', onAbort, { once: true });
        source.onopen = () => {
          attempt = 0;
          wasLive = true;
          this.current = 'sse';
          this.setStatus('live');
          live();
        };
        source.onmessage = (ev) => this.onSseMessage({ event: 'message', data: ev.data });
        source.addEventListener('expired', (ev) => this.onSseMessage({ event: 'expired', data: ev.data }));
        source.onerror = () => close('error');
      });
      if (signal.aborted) return;
      if (ended === 'error') {
        this.setStatus('reconnecting');
        await this.pause(backoff(++attempt), signal);
      }
    }
  }

  private onSseMessage(m: SseMessage): void {
    if (m.event === 'expired') {
      const info = safeJson(m.data) as { firstAvailableSeq?: unknown } | undefined;
      const first = Number(info?.firstAvailableSeq);
      if (Number.isSafeInteger(first) && first > this.seq + 1) {
        this.emit('gap', { from: this.seq + 1, to: first - 1, reason: 'expired' });
        this.seq = first - 1;
        this.drainHeld();
      }
      return;
    }
    this.accept(envelopesOf(safeJson(m.data)), 'read');
  }

  // ---------- long-poll ----------

  private async startLongPoll(signal: AbortSignal): Promise<void> {
    let live!: () => void;
    let failed!: (err: unknown) => void;
    const ready = new Promise<void>((resolve, reject) => {
      live = resolve;
      failed = reject;
    });
    void (async () => {
      let wasLive = false;
      const spacing = this.opts.longPollIntervalMs ?? 500;
      for (let attempt = 0, sent = -Infinity; !signal.aborted;) {
        // Each poll answers as soon as anything is new, so in a busy meeting polls would follow each
        // other as fast as the round trip allows and spend the participant's request budget
        // (default 5/s) in seconds; spaced out, each one takes everything that arrived meanwhile.
        const due = sent + spacing - Date.now();
        if (due > 0) await this.pause(due, signal);
        if (signal.aborted) break;
        sent = Date.now();
        try {
          const page = await this.http.readEvents(
            this.seq,
            this.opts.pageSize ?? 500,
            this.opts.longPollSeconds ?? 25,
            signal,
          );
          if (this.statusValue !== 'live') {
            this.current = 'long-poll';
            this.setStatus('live');
            wasLive = true;
            live();
          }
          attempt = 0;
          this.accept(page.items, 'read');
        } catch (err) {
          if (signal.aborted || isAbort(err)) break;
          if (this.skipExpired(err)) continue;
          if (refusedAtStart(err, wasLive)) return failed(err);
          await this.reconnectAfter(err, ++attempt, signal);
        }
      }
      failed(new Error('stopped'));
    })();
    await ready;
  }

  // ---------- token expiry ----------

  private watchToken(): void {
    clearTimeout(this.tokenTimer);
    void this.http
      .currentToken()
      .then((token) => {
        const exp = tokenExpiry(token);
        if (exp === undefined || !this.run) return;
        const at = exp - (this.opts.tokenRefreshMarginMs ?? 5 * 60_000);
        // Timers cannot be longer than ~24.8 days; re-arm for long-lived tokens.
        const wait = Math.min(Math.max(0, at - Date.now()), 2 ** 31 - 1);
        this.tokenTimer = setTimeout(() => {
          if (Date.now() >= at) this.emit('token-expiring', { expiresAt: new Date(exp) });
          else this.watchToken();
        }, wait);
      })
      .catch((err: unknown) => this.reportError(err));
  }

  // ---------- plumbing ----------

  private emit<K extends keyof ClientEvents>(event: K, ...args: ClientEvents[K]): void {
    for (const listener of this.listeners.get(event) ?? []) {
      try {
        listener(...args);
      } catch (err) {
        if (event !== 'error') this.reportError(err);
      }
    }
  }

  private reportError(err: unknown): void {
    this.emit('error', err instanceof Error ? err : new Error(String(err)));
  }

  private setStatus(status: ConnectionStatus): void {
    if (this.statusValue === status) return;
    this.statusValue = status;
    this.emit('status', status, this.current);
  }

  private later(ms: number, work: () => Promise<void> | void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void Promise.resolve(work()).catch((err: unknown) => this.reportError(err));
    }, ms);
    this.timers.add(timer);
  }

  private pause(ms: number, signal: AbortSignal): Promise<void> {
    return sleep(ms, signal);
  }
}

/** Retry delay: exponential from 250 ms to 10 s with jitter, or the server's Retry-After. */
function backoff(attempt: number, err?: unknown): number {
  if (err instanceof MeetstreamError && err.retryAfterMs) return err.retryAfterMs;
  const base = Math.min(10_000, 250 * 2 ** Math.min(attempt - 1, 6));
  return base / 2 + Math.random() * (base / 2);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
