/** One client connection's session: survives socket drops in reliable mode until it ends. */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { AckId, ClientProtocol, OutMessage } from './protocol';

export interface SessionLimits {
  /** Unacknowledged messages kept for redelivery per reliable connection. */
  replayMessages: number;
  /** Approximate bytes of unacknowledged messages kept per reliable connection. */
  replayBytes: number;
  /** A socket whose unsent backlog exceeds this is cut (reliable clients then recover from the replay buffer). */
  maxSocketBacklogBytes: number;
  /** Recently seen ackIds remembered for `Duplicate` detection. */
  rememberedAckIds: number;
}

export const DEFAULT_LIMITS: SessionLimits = {
  replayMessages: 1000,
  replayBytes: 1 << 20,
  maxSocketBacklogBytes: 16 << 20,
  rememberedAckIds: 1000,
};

export type SessionState = 'open' | 'recovering' | 'closed';

/**
 * Frames written to one socket during an event-loop turn leave in a single writev: the socket is
 * corked on its first frame and uncorked in the check phase. Syscalls dominate fan-out cost, so this
 * pays off whenever a socket gets several messages at once (bursts, redelivery after a reconnect).
 */
const corked: Socket[] = [];
let flushScheduled = false;

function flushCorked(): void {
  flushScheduled = false;
  for (const socket of corked.splice(0)) socket.uncork();
}

/**
 * The socket to write ready-made data frames to, or undefined if the WebSocket is not open.
 *
 * Frames bypass ws's Sender (which would allocate a header and options per recipient and write
 * twice). That is safe because the server never negotiates permessage-deflate or sends Blobs (so
 * the Sender never queues), every write is one whole frame, and nothing is written once ws has
 * started its closing handshake. `_socket` is ws's underlying net.Socket (stable across ws 8.x).
 */
function openSocket(ws: WebSocket): Socket | undefined {
  if (ws.readyState !== 1) return undefined;
  const socket = (ws as unknown as { _socket?: Socket })._socket;
  if (socket === undefined || socket.destroyed) return undefined;
  if (socket.writableCorked === 0) {
    socket.cork();
    corked.push(socket);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flushCorked);
    }
  }
  return socket;
}

/**
 * Messages a reliable connection has been sent but has not acknowledged, in sequence order. Bounded:
 * past the cap the oldest are dropped, which makes the session unrecoverable until the client's
 * acknowledgements pass the dropped range again.
 */
class ReplayBuffer {
  private items: Array<OutMessage | undefined> = [];
  private head = 0;
  private bytes = 0;
  /** Sequence id of `items[head]`. */
  private firstSeq = 1;
  /** Highest sequence id dropped before being acknowledged. */
  evictedThrough = 0;

  constructor(private readonly limits: SessionLimits) {}

  get length(): number {
    return this.items.length - this.head;
  }

  push(message: OutMessage): void {
    this.items.push(message);
    this.bytes += message.size;
    while (
      this.length > this.limits.replayMessages ||
      (this.bytes > this.limits.replayBytes && this.length > 1)
    ) {
      this.evictedThrough = this.firstSeq;
      this.dropOldest();
    }
  }

  acknowledge(sequenceId: number): void {
    while (this.length > 0 && this.firstSeq <= sequenceId) this.dropOldest();
  }

  /** Calls `fn` for each buffered message with a sequence id above `after`, in order. */
  forEachAfter(after: number, fn: (message: OutMessage, sequenceId: number) => void): void {
    const start = Math.max(this.head, this.head + (after + 1 - this.firstSeq));
    for (let i = start; i < this.items.length; i++) {
      const m = this.items[i];
      if (m !== undefined) fn(m, this.firstSeq + (i - this.head));
    }
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.bytes = 0;
  }

  private dropOldest(): void {
    const m = this.items[this.head];
    if (m !== undefined) this.bytes -= m.size;
    this.items[this.head] = undefined;
    this.head++;
    this.firstSeq++;
    // Compact occasionally so the array does not grow with the total number of messages.
    if (this.head >= 256 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

export class Session {
  state: SessionState = 'open';
  socket: WebSocket | undefined;
  readonly groups = new Set<string>();
  /** Answers the transport-level heartbeat; cleared before each ping. */
  alive = true;
  recoveryTimer: NodeJS.Timeout | undefined;
  /** Upstream events of this connection are delivered in order (connected → user events → disconnected). */
  upstreamChain: Promise<unknown> = Promise.resolve();
  /** Set once the session was closed through the API: such a close is final. */
  closeReason: string | undefined;

  private sequenceId = 0;
  private ackedSequenceId = 0;
  private readonly replay: ReplayBuffer | undefined;
  /** Created on the first acknowledged ackId; only reliable sessions de-duplicate. */
  private ackIds: Set<AckId> | undefined;

  constructor(
    readonly id: string,
    readonly hubKey: string,
    readonly userId: string | undefined,
    readonly roles: Set<string>,
    readonly protocol: ClientProtocol,
    readonly subprotocol: string | undefined,
    readonly reconnectionToken: string,
    private readonly limits: SessionLimits,
  ) {
    if (protocol === 'reliable') this.replay = new ReplayBuffer(limits);
  }

  get reliable(): boolean {
    return this.replay !== undefined;
  }

  /** Whether every unacknowledged message is still buffered, i.e. a reconnect can resume losslessly. */
  get recoverable(): boolean {
    return this.replay !== undefined && this.replay.evictedThrough <= this.ackedSequenceId;
  }

  get pendingReplay(): number {
    return this.replay?.length ?? 0;
  }

  /**
   * Sends (and, in reliable mode, sequences and buffers) one message. Never throws. True when the
   * message was written or, in reliable mode, buffered for the client to receive on resuming: a
   * message the service will deliver, and so bill.
   */
  deliver(message: OutMessage): boolean {
    const ws = this.socket;
    if (this.replay !== undefined) {
      const sequenceId = ++this.sequenceId;
      this.replay.push(message);
      const socket = ws === undefined ? undefined : this.writable(ws);
      if (socket !== undefined) socket.write(message.reliableFrame(sequenceId));
      return true;
    }
    const socket = ws === undefined ? undefined : this.writable(ws);
    if (socket === undefined) return false;
    socket.write(this.protocol === 'json' ? message.plainFrame() : message.rawFrame());
    return true;
  }

  /** Sends a protocol frame (ack, pong, system) to the current socket, if any. */
  sendControl(frame: string): void {
    const ws = this.socket;
    if (ws !== undefined && ws.readyState === 1) ws.send(frame);
  }

  acknowledge(sequenceId: number): void {
    // Acks beyond what was sent are a client bug; clamp so they cannot hide future messages.
    const acked = Math.min(Math.floor(sequenceId), this.sequenceId);
    if (acked <= this.ackedSequenceId) return;
    this.ackedSequenceId = acked;
    this.replay?.acknowledge(acked);
  }

  /** After a reconnect: resend everything the client has not acknowledged, in order. */
  redeliver(): void {
    const socket = this.socket === undefined ? undefined : openSocket(this.socket);
    if (this.replay === undefined || socket === undefined) return;
    this.replay.forEachAfter(this.ackedSequenceId, (m, seq) => socket.write(m.reliableFrame(seq)));
  }

  /** ackId de-duplication (reliable mode only): true if this ackId already succeeded. */
  isDuplicateAck(ackId: AckId | undefined): boolean {
    return ackId !== undefined && this.ackIds !== undefined && this.ackIds.has(ackId);
  }

  rememberAck(ackId: AckId | undefined): void {
    if (ackId === undefined || this.replay === undefined) return;
    this.ackIds ??= new Set();
    this.ackIds.add(ackId);
    if (this.ackIds.size > this.limits.rememberedAckIds) {
      const oldest = this.ackIds.values().next();
      if (oldest.done !== true) this.ackIds.delete(oldest.value);
    }
  }

  /** Releases buffers once the session has ended. */
  dispose(): void {
    this.replay?.clear();
    this.ackIds?.clear();
    if (this.recoveryTimer !== undefined) clearTimeout(this.recoveryTimer);
    this.recoveryTimer = undefined;
  }

  private writable(ws: WebSocket): Socket | undefined {
    if (ws.bufferedAmount > this.limits.maxSocketBacklogBytes) {
      // A consumer this far behind would grow memory without bound; cutting the socket lets a
      // reliable client resume from the replay buffer and a plain client reconnect.
      ws.terminate();
      return undefined;
    }
    return openSocket(ws);
  }
}
