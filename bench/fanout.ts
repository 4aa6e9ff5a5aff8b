/**
 * Fan-out: messages per second delivered to subscribers by the embedded Web PubSub (REST group
 * sends, as the processor pushes), beside a bare `ws` broadcast (the practical limit) and
 * socket.io rooms (a peer), measured in the same run with the same payload, the same publisher,
 * the same 50 groups × 20 subscribers in one client process, one server at a time.
 *
 * The publisher is the same lean keep-alive HTTP client for all three (for the hub it signs one
 * JWT per URL and reuses it, as the hub's verifier caches it), so the figure is the server's, not
 * the publishing SDK's. Memory: server RSS growth per connected subscriber.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import * as http from 'node:http';
import * as path from 'node:path';
import { spawnService, type ChildService } from '../local/supervisor';
import { merge, nowUs, summary, type LatencySummary } from './lib/hdr';
import type { PeerCommand, PeerReply } from './lib/fanout-peer';
import { CpuMeter, rssKiB } from './lib/machine';
import { sleep } from './lib/http';

const HUB = 'fanout';
const KEY = 'fanout-bench-access-key-0123456789abcdef';

export interface FanoutOptions {
  groups: number;
  members: number;
  seconds: number;
  inFlight: number;
  log: (line: string) => void;
}

export interface FanoutSystemResult {
  system: 'hub' | 'raw-ws' | 'socket.io';
  subscribers: number;
  connectMs: number;
  sendsPerSec: number;
  deliveredPerSec: number;
  /** Publish → received by a subscriber. */
  latency: LatencySummary;
  cores: Record<string, number>;
  rssPerSubscriberKiB: number;
  serverRssKiB: number;
}

export interface FanoutResult {
  groups: number;
  members: number;
  seconds: number;
  inFlight: number;
  payloadBytes: number;
  systems: FanoutSystemResult[];
  /** Every slice's figure, in the order measured (the table shows the totals). */
  rounds: Array<{ system: string; deliveredPerSec: number }>;
  hubVsRaw: number;
  hubVsSocketIo: number;
}

function b64url(s: string): string {
  return Buffer.from(s).toString('base64url');
}

function signJwt(claims: Record<string, unknown>): string {
  const body = `${b64url('{"alg":"HS256","typ":"JWT"}')}.${b64url(JSON.stringify(claims))}`;
  return `${body}.${createHmac('sha256', KEY).update(body).digest('base64url')}`;
}

/** A realistic push: three envelopes, as one change-feed batch produces for one meeting. */
function payload(i: number): string {
  const at = new Date().toISOString();
  const envelopes = [
    {
      seq: 3 * i + 1,
      meetingId: 'm-bench000000',
      kind: 'event',
      type: 'chat.message',
      id: `c-${i}`,
      actor: 'p-0000000001',
      data: { text: 'message: the quick brown fox jumps over the lazy dog' },
      at,
      trace: { accepted: Date.now(), processed: Date.now() },
    },
    {
      seq: 3 * i + 2,
      meetingId: 'm-bench000000',
      kind: 'state',
      type: 'speaker',
      data: { participantId: 'p-0000000001', since: Date.now() },
      at,
    },
    {
      seq: 3 * i + 3,
      meetingId: 'm-bench000000',
      kind: 'analytics',
      type: 'chatRate',
      data: { perMinute: 42, window: 60 },
      at,
    },
  ];
  return JSON.stringify({ t: nowUs(), envelopes });
}

function forkPeer(mode: string): ChildProcess {
  return fork(path.join(__dirname, 'lib', 'fanout-peer.js'), [mode], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

function ask(child: ChildProcess, m: PeerCommand): Promise<PeerReply> {
  return new Promise((resolve, reject) => {
    const onExit = () => reject(new Error('fan-out peer exited'));
    child.once('exit', onExit);
    child.once('message', (r: PeerReply) => {
      child.off('exit', onExit);
      resolve(r);
    });
    child.send(m);
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    if (child.connected) child.send({ cmd: 'exit' } satisfies PeerCommand);
    else child.kill('SIGTERM');
  });
}

interface Server {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

async function startServer(system: FanoutSystemResult['system']): Promise<Server> {
  if (system === 'hub') {
    const svc: ChildService = await spawnService({
      name: 'webpubsub',
      script: path.resolve(__dirname, '..', 'local', 'webpubsub', 'main.js'),
      env: { ...process.env, WEBPUBSUB_PORT: '0', WEBPUBSUB_ACCESS_KEY: KEY },
    });
    return { pid: svc.child.pid ?? 0, port: svc.info.port, stop: () => svc.stop() };
  }
  const child = forkPeer(system === 'raw-ws' ? 'raw' : 'socketio');
  const { port } = await new Promise<{ port: number }>((resolve) => child.once('message', resolve));
  return {
    pid: child.pid ?? 0,
    port,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

function post(
  agent: http.Agent,
  port: number,
  route: string,
  body: string,
  headers: Record<string, string>,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: route,
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...headers,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 202 ? resolve() : reject(new Error(`publish: ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** One system under test, connected and ready to publish to. */
interface Rig {
  system: FanoutSystemResult['system'];
  server: Server;
  clients: ChildProcess;
  agent: http.Agent;
  subscribers: number;
  connectMs: number;
  rssPerSubscriberKiB: number;
  route(group: number): { path: string; headers: Record<string, string> };
}

async function setupRig(system: FanoutSystemResult['system'], opts: FanoutOptions): Promise<Rig> {
  const server = await startServer(system);
  const clients = forkPeer('clients');
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.inFlight });
  await sleep(300);
  const rss0 = rssKiB(server.pid);
  const targets: Array<{ url: string; group: string }> = [];
  const base = `127.0.0.1:${server.port}`;
  for (let g = 0; g < opts.groups; g++) {
    const group = `g${g}`;
    let url: string;
    if (system === 'hub') {
      const now = Math.floor(Date.now() / 1000);
      const token = signJwt({
        aud: `http://${base}/client/hubs/${HUB}`,
        iat: now,
        exp: now + 3600,
        'webpubsub.group': [group],
      });
      url = `ws://${base}/client/hubs/${HUB}?access_token=${token}`;
    } else if (system === 'raw-ws') url = `ws://${base}/?group=${group}`;
    else url = `http://${base}`;
    for (let m = 0; m < opts.members; m++) targets.push({ url, group });
  }
  const kind = system === 'hub' ? 'hub' : system === 'raw-ws' ? 'raw' : 'socketio';
  const connected = await ask(clients, { cmd: 'connect', kind, targets });
  if (connected.type !== 'connected' || connected.failed > 0)
    throw new Error(
      `${system}: ${connected.type === 'connected' ? connected.failed : '?'} subscribers failed to connect`,
    );
  await sleep(500);
  const rss1 = rssKiB(server.pid);
  const tokens = new Map<string, string>();
  return {
    system,
    server,
    clients,
    agent,
    subscribers: targets.length,
    connectMs: connected.ms,
    rssPerSubscriberKiB: Math.round(((rss1 - rss0) / targets.length) * 10) / 10,
    route(g): { path: string; headers: Record<string, string> } {
      if (system !== 'hub') return { path: `/groups/g${g}`, headers: {} };
      const p = `/api/hubs/${HUB}/groups/g${g}/:send?api-version=2024-12-01`;
      let token = tokens.get(p);
      if (!token) {
        const now = Math.floor(Date.now() / 1000);
        token = signJwt({ aud: `http://${base}${p}`, iat: now, exp: now + 3600 });
        tokens.set(p, token);
      }
      return { path: p, headers: { authorization: `Bearer ${token}` } };
    },
  };
}

async function teardown(rig: Rig): Promise<void> {
  rig.agent.destroy();
  await stopChild(rig.clients);
  await rig.server.stop();
}

interface Slice {
  delivered: number;
  sends: number;
  seconds: number;
  latency: string;
  cores: Record<string, number>;
}

/** Publishes to one rig for `seconds` (after a short warm-up) and counts what its subscribers got. */
async function slice(rig: Rig, opts: FanoutOptions, seconds: number): Promise<Slice> {
  let stop = false;
  let sends = 0;
  let i = 0;
  const worker = async () => {
    while (!stop) {
      const n = i++;
      const r = rig.route(n % opts.groups);
      await post(rig.agent, rig.server.port, r.path, payload(n), r.headers);
      sends++;
    }
  };
  const workers = Array.from({ length: opts.inFlight }, worker);
  await sleep(300); // warm-up: connections, JIT, queues filled
  const c0 = await ask(rig.clients, { cmd: 'reset' });
  const s0 = sends;
  const meter = new CpuMeter(() => ({
    server: rig.server.pid,
    clients: rig.clients.pid,
    publisher: process.pid,
  }));
  meter.begin();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const c1 = await ask(rig.clients, { cmd: 'count' });
  const elapsed = (performance.now() - t0) / 1000;
  const cores = meter.end();
  const s1 = sends;
  stop = true;
  await Promise.all(workers);
  await sleep(200); // let queued deliveries drain before the next system runs
  const count = (r: PeerReply) => (r.type === 'count' ? r.count : 0);
  return {
    delivered: count(c1) - count(c0),
    sends: s1 - s0,
    seconds: elapsed,
    latency: c1.type === 'count' ? c1.latency : '',
    cores,
  };
}

/**
 * All three systems are connected at once (each with its own server and subscriber process) and
 * then measured in short interleaved slices, rotating the order every round: on a machine shared
 * with other work, load that comes and goes hits all three alike, so their ratio holds even when
 * the absolute rates move.
 */
export async function runFanout(opts: FanoutOptions & { rounds?: number }): Promise<FanoutResult> {
  const order = ['hub', 'raw-ws', 'socket.io'] as const;
  const rigs: Rig[] = [];
  const slices = new Map<string, Slice[]>(order.map((s) => [s, []]));
  const rounds: FanoutResult['rounds'] = [];
  try {
    for (const system of order) {
      opts.log(`fan-out: connecting ${opts.groups} groups × ${opts.members} to ${system}`);
      rigs.push(await setupRig(system, opts));
    }
    const n = opts.rounds ?? 3;
    for (let round = 0; round < n; round++) {
      for (let k = 0; k < rigs.length; k++) {
        const rig = rigs[(round + k) % rigs.length]!;
        const s = await slice(rig, opts, opts.seconds);
        slices.get(rig.system)!.push(s);
        rounds.push({ system: rig.system, deliveredPerSec: Math.round(s.delivered / s.seconds) });
      }
      opts.log(
        `fan-out: round ${round + 1}/${n}: ${rounds
          .slice(-3)
          .map((r) => `${r.system} ${r.deliveredPerSec}/s`)
          .join(', ')}`,
      );
    }
  } finally {
    for (const rig of rigs) await teardown(rig);
  }
  const systems: FanoutSystemResult[] = rigs.map((rig) => {
    const list = slices.get(rig.system)!;
    const seconds = list.reduce((a, s) => a + s.seconds, 0);
    const cores: Record<string, number> = {};
    for (const s of list)
      for (const [k, v] of Object.entries(s.cores)) cores[k] = (cores[k] ?? 0) + (v * s.seconds) / seconds;
    for (const k of Object.keys(cores)) cores[k] = Math.round(cores[k]! * 100) / 100;
    return {
      system: rig.system,
      subscribers: rig.subscribers,
      connectMs: rig.connectMs,
      sendsPerSec: Math.round(list.reduce((a, s) => a + s.sends, 0) / seconds),
      deliveredPerSec: Math.round(list.reduce((a, s) => a + s.delivered, 0) / seconds),
      latency: summary(merge(list.map((s) => s.latency))),
      cores,
      rssPerSubscriberKiB: rig.rssPerSubscriberKiB,
      serverRssKiB: rssKiB(rig.server.pid),
    };
  });
  const rate = (s: string) => systems.find((x) => x.system === s)!.deliveredPerSec;
  return {
    groups: opts.groups,
    members: opts.members,
    seconds: opts.seconds,
    inFlight: opts.inFlight,
    payloadBytes: payload(0).length,
    systems,
    rounds,
    hubVsRaw: Math.round((rate('hub') / rate('raw-ws')) * 1000) / 1000,
    hubVsSocketIo: Math.round((rate('hub') / rate('socket.io')) * 1000) / 1000,
  };
}

if (require.main === module) {
  runFanout({
    groups: Number(process.argv[2] ?? 50),
    members: 20,
    seconds: Number(process.argv[3] ?? 1.5),
    inFlight: 16,
    rounds: Number(process.argv[4] ?? 8),
    log: (l) => console.error(l),
  }).then(
    (r) => {
      console.log(JSON.stringify(r, null, 2));
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
