/**
 * Self-check benchmark of the embedded Web PubSub (not the project benchmark): 50 groups × 20
 * members in a separate client process, group sends through the unmodified REST SDK, compared
 * with a bare `ws` server whose group broadcast is triggered the same way over keep-alive HTTP.
 *
 *   node dist/local/webpubsub/bench.js [seconds=8] [inFlight=16]
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { WebPubSubServiceClient } from '@azure/web-pubsub';
import WebSocket, { WebSocketServer } from 'ws';
import { signJwt } from './auth';

const GROUPS = 50;
const MEMBERS = 20;
const KEY = 'bench-access-key-0123456789abcdefghijklmnop';
const HUB = 'bench';
const RELIABLE = 'json.reliable.webpubsub.azure.v1';

type ToClients =
  { cmd: 'connect'; urls: string[]; subprotocol?: string } | { cmd: 'count' } | { cmd: 'exit' };
type FromClients = { connected: number; ms: number } | { count: number };

function payload(i: number): Record<string, unknown> {
  return {
    seq: i,
    meetingId: 'm-000000000000',
    kind: 'event',
    type: 'chat.message',
    data: {
      id: `e-${i}`,
      participantId: 'p-0000000000',
      text: 'The quick brown fox jumps over the lazy dog.',
    },
    at: '2026-01-01T00:00:00.000Z',
  };
}

// ---------- client process: many sockets, JSON-parses every message, acks like the SDK ----------
function clientProcess(): void {
  // Never outlive the driver.
  process.on('disconnect', () => process.exit(0));
  const sockets: WebSocket[] = [];
  let count = 0;
  const lastSeq = new Map<WebSocket, number>();
  const ackTimer = setInterval(() => {
    for (const [ws, seq] of lastSeq) ws.send(`{"type":"sequenceAck","sequenceId":${seq}}`);
    lastSeq.clear();
  }, 1000);
  process.on('message', (m: ToClients) => {
    if (m.cmd === 'connect') {
      const started = Date.now();
      let open = 0;
      const batch = (from: number): void => {
        const slice = m.urls.slice(from, from + 100);
        if (slice.length === 0) return;
        let pending = slice.length;
        for (const url of slice) {
          const ws = m.subprotocol ? new WebSocket(url, m.subprotocol) : new WebSocket(url);
          ws.on('message', (data: Buffer) => {
            const msg = JSON.parse(data.toString('utf8')) as { type?: string; sequenceId?: number };
            if (msg.type !== 'message') return;
            count++;
            if (msg.sequenceId !== undefined) lastSeq.set(ws, msg.sequenceId);
          });
          ws.on('open', () => {
            open++;
            if (--pending === 0) batch(from + 100);
            if (open === m.urls.length) process.send?.({ connected: open, ms: Date.now() - started });
          });
          ws.on('error', (err) => console.error('client socket error', err.message));
          sockets.push(ws);
        }
      };
      batch(0);
    } else if (m.cmd === 'count') {
      process.send?.({ count });
    } else {
      clearInterval(ackTimer);
      for (const ws of sockets) ws.terminate();
      process.exit(0);
    }
  });
}

// ---------- baseline: bare ws server, one JSON.stringify per send, same string to every member ----------
function rawServerProcess(): void {
  process.on('disconnect', () => process.exit(0));
  const groups = new Map<string, Set<WebSocket>>();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const group = decodeURIComponent((req.url ?? '').split('/')[2] ?? '');
      const frame =
        '{"type":"message","from":"server","dataType":"json","data":' +
        Buffer.concat(chunks).toString() +
        '}';
      for (const ws of groups.get(group) ?? []) ws.send(frame);
      res.writeHead(202, { 'content-length': '0' });
      res.end();
    });
  });
  server.keepAliveTimeout = 65_000;
  server.on('upgrade', (req, socket, head) => {
    const group = new URL(req.url ?? '/', 'http://x').searchParams.get('group') ?? '';
    wss.handleUpgrade(req, socket, head, (ws) => {
      let set = groups.get(group);
      if (!set) groups.set(group, (set = new Set()));
      set.add(ws);
      ws.on('close', () => set.delete(ws));
    });
  });
  server.listen(0, '127.0.0.1', () => {
    console.log(JSON.stringify({ ready: true, port: (server.address() as AddressInfo).port }));
  });
}

// ---------- driver ----------
function progress(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

async function readyLine(child: ChildProcess): Promise<{ port: number }> {
  if (!child.stdout) throw new Error('no stdout');
  const rl = readline.createInterface({ input: child.stdout });
  const line = await new Promise<string>((resolve) => rl.once('line', resolve));
  rl.close();
  return JSON.parse(line) as { port: number };
}

function ask(child: ChildProcess, m: ToClients): Promise<FromClients> {
  return new Promise((resolve) => {
    child.once('message', (r: FromClients) => resolve(r));
    child.send(m);
  });
}

function postJson(
  agent: http.Agent,
  port: number,
  path: string,
  body: string,
  headers: Record<string, string>,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path,
        agent,
        headers: { 'content-type': 'application/json', ...headers },
      },
      (res) => {
        if (res.statusCode !== 202) reject(new Error(`status ${res.statusCode}`));
        res.resume();
        res.on('end', () => resolve());
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function stopClients(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.send({ cmd: 'exit' } satisfies ToClients);
  });
}

async function countNow(clients: ChildProcess): Promise<number> {
  const r = await ask(clients, { cmd: 'count' });
  return 'count' in r ? r.count : 0;
}

interface Window {
  sends: number;
  delivered: number;
  seconds: number;
  /** CPU seconds of publisher, server and clients. */
  cpu: [number, number, number];
}

/** Keeps `inFlight` sends going; measures one window after a short warm-up. */
async function drive(
  send: (group: string, i: number) => Promise<unknown>,
  clients: ChildProcess,
  server: ChildProcess,
  seconds: number,
  inFlight: number,
): Promise<Window> {
  let i = 0;
  let stop = false;
  let sends = 0;
  const worker = async (): Promise<void> => {
    while (!stop) {
      const n = i++;
      await send(`g${n % GROUPS}`, n);
      sends++;
    }
  };
  const workers = Array.from({ length: inFlight }, worker);
  await new Promise((r) => setTimeout(r, 300)); // warm-up
  const cpuNow = (): [number, number, number] => [
    cpuSeconds(process.pid),
    cpuSeconds(server.pid ?? 0),
    cpuSeconds(clients.pid ?? 0),
  ];
  const c0 = await countNow(clients);
  const s0 = sends;
  const t0 = process.hrtime.bigint();
  const cpu0 = cpuNow();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const c1 = await countNow(clients);
  const s1 = sends;
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu1 = cpuNow();
  stop = true;
  await Promise.all(workers);
  // Let in-flight frames land so they do not count towards the next window.
  await new Promise((r) => setTimeout(r, 200));
  return {
    sends: s1 - s0,
    delivered: c1 - c0,
    seconds: elapsed,
    cpu: [cpu1[0] - cpu0[0], cpu1[1] - cpu0[1], cpu1[2] - cpu0[2]],
  };
}

function summarize(windows: Window[]): Record<string, unknown> {
  const total = windows.reduce(
    (a, w) => ({
      sends: a.sends + w.sends,
      delivered: a.delivered + w.delivered,
      seconds: a.seconds + w.seconds,
      cpu: [a.cpu[0] + w.cpu[0], a.cpu[1] + w.cpu[1], a.cpu[2] + w.cpu[2]] as Window['cpu'],
    }),
    { sends: 0, delivered: 0, seconds: 0, cpu: [0, 0, 0] as Window['cpu'] },
  );
  const share = (k: 0 | 1 | 2): number => Math.round((total.cpu[k] / total.seconds) * 100) / 100;
  return {
    sendsPerSec: Math.round(total.sends / total.seconds),
    deliveredPerSec: Math.round(total.delivered / total.seconds),
    // Cores used by each process while measuring, and server CPU per delivered message.
    cpuShare: { publisher: share(0), server: share(1), clients: share(2) },
    serverCpuUsPerDelivery: Math.round((total.cpu[1] / Math.max(1, total.delivered)) * 1e7) / 10,
  };
}

const children: ChildProcess[] = [];

function track<T extends ChildProcess>(child: T): T {
  children.push(child);
  return child;
}

async function main(): Promise<void> {
  // Children must not outlive the driver, even when it is interrupted.
  process.on('exit', () => children.forEach((c) => c.kill()));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));
  const seconds = Number(process.argv[2] ?? 8);
  const inFlight = Number(process.argv[3] ?? 16);
  const rounds = 4;
  const self = __filename;
  const results: Record<string, unknown> = { groups: GROUPS, membersPerGroup: MEMBERS, inFlight, seconds };

  // Embedded hub as its own process, like the local stack runs it.
  const hubArgs = [
    ...(process.env.BENCH_HUB_NODE_ARGS ?? '').split(' ').filter(Boolean),
    path.join(__dirname, 'main.js'),
  ];
  const hub = track(
    spawn(process.execPath, hubArgs, {
      env: { ...process.env, WEBPUBSUB_PORT: '0', WEBPUBSUB_ACCESS_KEY: KEY },
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const { port } = await readyLine(hub);
  const service = new WebPubSubServiceClient(
    `Endpoint=http://127.0.0.1:${port};AccessKey=${KEY};Version=1.0;`,
    HUB,
    {
      allowInsecureConnection: true,
    },
  );
  const urls: string[] = [];
  for (let g = 0; g < GROUPS; g++) {
    const { url } = await service.getClientAccessToken({ groups: [`g${g}`] });
    for (let m = 0; m < MEMBERS; m++) urls.push(url);
  }
  progress(`hub on port ${port}; connecting ${urls.length} reliable-protocol clients`);
  const rssBefore = rssKb(hub.pid ?? 0);
  const hubClients = track(fork(self, ['clients']));
  const connected = await ask(hubClients, { cmd: 'connect', urls, subprotocol: RELIABLE });
  await new Promise((r) => setTimeout(r, 500));
  results.connect1000Ms = 'ms' in connected ? connected.ms : undefined;
  results.hubRssPerConnectionKb = Math.round(((rssKb(hub.pid ?? 0) - rssBefore) / urls.length) * 10) / 10;

  const raw = track(fork(self, ['raw-server'], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] }));
  const rawPort = (await readyLine(raw)).port;
  const rawUrls = urls.map((_, k) => `ws://127.0.0.1:${rawPort}/?group=g${Math.floor(k / MEMBERS)}`);
  const rawClients = track(fork(self, ['clients']));
  await ask(rawClients, { cmd: 'connect', urls: rawUrls });

  // The SDK spends ~1 ms of CPU per call signing its JWT; a lean publisher (JWT cached per URL)
  // shows the hub's own capacity, triggered exactly like the bare ws server.
  const sdkSend = (group: string, i: number): Promise<unknown> => service.group(group).sendToAll(payload(i));
  const hubAgent = new http.Agent({ keepAlive: true, maxSockets: inFlight });
  const tokens = new Map<string, string>();
  const leanSend = (group: string, i: number): Promise<void> => {
    const pathAndQuery = `/api/hubs/${HUB}/groups/${group}/:send?api-version=2024-12-01`;
    let token = tokens.get(pathAndQuery);
    if (token === undefined) {
      const now = Math.floor(Date.now() / 1000);
      token = signJwt({ aud: `http://127.0.0.1:${port}${pathAndQuery}`, iat: now, exp: now + 3600 }, KEY);
      tokens.set(pathAndQuery, token);
    }
    return postJson(hubAgent, port, pathAndQuery, JSON.stringify(payload(i)), {
      authorization: `Bearer ${token}`,
    });
  };
  const rawAgent = new http.Agent({ keepAlive: true, maxSockets: inFlight });
  const rawSend = (group: string, i: number): Promise<void> =>
    postJson(rawAgent, rawPort, `/groups/${group}`, JSON.stringify(payload(i)), {});

  // Interleaved windows, so load from anything else on the machine hits all variants alike.
  progress(`${rounds} rounds of ${seconds / rounds} s per variant, ${inFlight} sends in flight`);
  const windows: Record<'sdk' | 'lean' | 'raw', Window[]> = { sdk: [], lean: [], raw: [] };
  for (let r = 0; r < rounds; r++) {
    windows.raw.push(await drive(rawSend, rawClients, raw, seconds / rounds, inFlight));
    windows.lean.push(await drive(leanSend, hubClients, hub, seconds / rounds, inFlight));
    windows.sdk.push(await drive(sdkSend, hubClients, hub, seconds / rounds, inFlight));
  }
  results.hubSdkPublisher = summarize(windows.sdk);
  results.hubLeanPublisher = summarize(windows.lean);
  results.rawWs = summarize(windows.raw);
  results.hubRssAfterLoadKb = rssKb(hub.pid ?? 0);
  await stopClients(hubClients);
  await stopClients(rawClients);
  hubAgent.destroy();
  rawAgent.destroy();
  raw.kill();
  hub.kill('SIGTERM');

  const rawRate = (results.rawWs as { deliveredPerSec: number }).deliveredPerSec;
  const pct = (key: string): string =>
    Math.round(((results[key] as { deliveredPerSec: number }).deliveredPerSec / rawRate) * 1000) / 10 + ' %';
  results.hubVsRawWs = { sdkPublisher: pct('hubSdkPublisher'), leanPublisher: pct('hubLeanPublisher') };
  console.log(JSON.stringify(results, null, 2));
}

if (require.main === module) {
  const mode = process.argv[2];
  if (mode === 'clients') clientProcess();
  else if (mode === 'raw-server') rawServerProcess();
  else
    main().catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
