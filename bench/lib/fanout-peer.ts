/**
 * Child processes of the fan-out benchmark (fork with one argument):
 *  - `raw`: bare `ws` server; POST /groups/{g} wraps the body in a Web PubSub-shaped frame once
 *    and writes it to every member — the practical limit of a broadcast on this machine;
 *  - `socketio`: socket.io server; POST /groups/{g} parses the body and emits it to room g;
 *  - `clients`: the subscribers, all in one process: `ws` sockets for the hub (reliable JSON
 *    subprotocol, sequence acks once a second like @azure/web-pubsub-client) and for the raw
 *    server, socket.io-client sockets for socket.io. Every message is JSON-parsed and timed
 *    against the send time the publisher put in it.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server as SocketIoServer } from 'socket.io';
import { io as socketIoClient, type Socket } from 'socket.io-client';
import WebSocket, { WebSocketServer } from 'ws';
import { encode, histogram, nowUs, recordUs } from './hdr';

export type PeerCommand =
  | { cmd: 'connect'; kind: 'hub' | 'raw' | 'socketio'; targets: Array<{ url: string; group: string }> }
  | { cmd: 'count' }
  | { cmd: 'reset' }
  | { cmd: 'exit' };

export type PeerReply =
  { type: 'connected'; ms: number; failed: number } | { type: 'count'; count: number; latency: string };

const RELIABLE = 'json.reliable.webpubsub.azure.v1';

/** Reads a POST body, hands it to `broadcast(group, body)`, answers 202 like the hub's REST API. */
function publishServer(broadcast: (group: string, body: string) => void): http.Server {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const group = decodeURIComponent((req.url ?? '').split('/')[2] ?? '');
      broadcast(group, Buffer.concat(chunks).toString('utf8'));
      res.writeHead(202, { 'content-length': '0' });
      res.end();
    });
  });
  server.keepAliveTimeout = 65_000;
  return server;
}

function ready(server: http.Server): void {
  server.listen(0, '127.0.0.1', () => {
    process.send?.({ ready: true, port: (server.address() as AddressInfo).port });
  });
}

function rawServer(): void {
  const groups = new Map<string, Set<WebSocket>>();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });
  const server = publishServer((group, body) => {
    // Encoded once per send, the same bytes to every member: the least work a broadcast can do.
    const frame = Buffer.from(`{"type":"message","from":"server","dataType":"json","data":${body}}`);
    for (const ws of groups.get(group) ?? []) ws.send(frame, { binary: false });
  });
  server.on('upgrade', (req, socket, head) => {
    const group = new URL(req.url ?? '/', 'http://x').searchParams.get('group') ?? '';
    wss.handleUpgrade(req, socket, head, (ws) => {
      let set = groups.get(group);
      if (!set) groups.set(group, (set = new Set()));
      set.add(ws);
      ws.on('close', () => set.delete(ws));
    });
  });
  ready(server);
}

function socketIoServer(): void {
  // Requests arrive only after listen(), when `io` exists.
  const server = publishServer((group, body) => {
    io.to(group).emit('message', JSON.parse(body));
  });
  const io = new SocketIoServer(server, {
    transports: ['websocket'],
    perMessageDeflate: false,
    serveClient: false,
  });
  io.on('connection', (socket) => {
    const group = socket.handshake.query.group;
    if (typeof group === 'string') void socket.join(group);
  });
  ready(server);
}

function clients(): void {
  const closers: Array<() => void> = [];
  let count = 0;
  let latency = histogram();
  const lastSeq = new Map<WebSocket, number>();
  const acks = setInterval(() => {
    for (const [ws, seq] of lastSeq) ws.send(`{"type":"sequenceAck","sequenceId":${seq}}`);
    lastSeq.clear();
  }, 1000);
  const received = (payload: { t?: number } | undefined) => {
    count++;
    if (payload && typeof payload.t === 'number') recordUs(latency, nowUs() - payload.t);
  };

  const connectOne = (kind: 'hub' | 'raw' | 'socketio', url: string, group: string): Promise<boolean> =>
    new Promise((resolve) => {
      if (kind === 'socketio') {
        const socket: Socket = socketIoClient(url, {
          transports: ['websocket'],
          query: { group },
          reconnection: false,
          forceNew: true,
        });
        socket.on('message', (body: { t?: number }) => received(body));
        socket.once('connect', () => resolve(true));
        socket.once('connect_error', () => resolve(false));
        closers.push(() => socket.close());
        return;
      }
      const ws = kind === 'hub' ? new WebSocket(url, RELIABLE) : new WebSocket(url);
      ws.on('message', (data: Buffer) => {
        const msg = JSON.parse(data.toString('utf8')) as {
          type?: string;
          sequenceId?: number;
          data?: { t?: number };
        };
        if (msg.type !== 'message') return;
        if (msg.sequenceId !== undefined) lastSeq.set(ws, msg.sequenceId);
        received(msg.data);
      });
      ws.once('open', () => resolve(true));
      ws.once('error', () => resolve(false));
      closers.push(() => ws.terminate());
    });

  process.on('message', (m: PeerCommand) => {
    if (m.cmd === 'connect') {
      const t0 = performance.now();
      let failed = 0;
      let next = 0;
      const worker = async () => {
        while (next < m.targets.length) {
          const t = m.targets[next++]!;
          if (!(await connectOne(m.kind, t.url, t.group))) failed++;
        }
      };
      void Promise.all(Array.from({ length: 50 }, worker)).then(() =>
        process.send?.({
          type: 'connected',
          ms: Math.round(performance.now() - t0),
          failed,
        } satisfies PeerReply),
      );
    } else if (m.cmd === 'count') {
      process.send?.({ type: 'count', count, latency: encode(latency) } satisfies PeerReply);
    } else if (m.cmd === 'reset') {
      latency = histogram();
      process.send?.({ type: 'count', count, latency: encode(latency) } satisfies PeerReply);
    } else {
      clearInterval(acks);
      for (const close of closers) close();
      setTimeout(() => process.exit(0), 100);
    }
  });
}

if (require.main === module) {
  const mode = process.argv[2];
  if (mode === 'raw') rawServer();
  else if (mode === 'socketio') socketIoServer();
  else if (mode === 'clients') clients();
  else {
    console.error('usage: fanout-peer.js raw|socketio|clients');
    process.exit(2);
  }
}
