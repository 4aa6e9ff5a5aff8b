/**
 * What a meeting costs (issue 11, item 1): per scenario, one room on a fresh embedded stack,
 * participants joined through the API and connected to the embedded Web PubSub over real
 * WebSockets, a scripted event mix posted at the scenario's rate; the embedded services' meters
 * (Cosmos DB estimated request charges and bytes written, `GET /_embedded/stats`; Web PubSub billed
 * messages, same path behind the access-key JWT) are read before and after, and the deltas are
 * divided by the events accepted and the participants reached.
 *
 * The crowd: a few `@azure/web-pubsub-client` participants (participants.ts: seq order, catch-up,
 * completeness against what the API accepted, and delivery latency) plus lightweight `ws`
 * attendees for everyone else (cost-crowd.ts: every seq once and in order, without parsing). A
 * lost, duplicated or reordered delivery fails the run; cost targets are reported, never enforced.
 *
 * The meters are estimates and counts, not bills: see local/cosmos/README.md ("Request charge")
 * and local/webpubsub/README.md ("Billing"); dollars use bench/prices.ts (list prices to verify).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import * as path from 'node:path';
import { parseConnectionString } from '../lib/config';
import { MAX_PARTICIPANTS } from '../lib/domain/meeting';
import type { CrowdCommand, CrowdStatus } from './lib/cost-crowd';
import { Crowd } from './lib/crowd';
import { drain } from './e2e';
import { Args } from './lib/args';
import { createFleet, type BenchParticipant } from './lib/fleet';
import { JsonClient, sleep } from './lib/http';
import { CpuMeter } from './lib/machine';
import { startBenchStack, type BenchStack } from './lib/stack';
import { dollarsPer1000ParticipantMinutes, type CostBreakdown } from './prices';

type StreamKind = 'chat' | 'reaction' | 'caption' | 'hand' | 'speaking' | 'vote';

interface Stream {
  kind: StreamKind;
  perSecond: number;
}

export interface CostScenario {
  name: string;
  /** Participants asked for (the host included); capped at MAX_PARTICIPANTS. */
  participants: number;
  seconds: number;
  streams: Stream[];
  /** The host opens a poll at the start (votes come from the `vote` stream) and closes it at the end. */
  poll?: boolean;
  /** Targets from issue 11, reported as met / not met. */
  targets?: {
    billedPerEventPerRecipient?: number;
    ruPerEvent?: number;
    bytesPerEventVsDoc?: number;
    billedPerAttendeePerSecond?: number;
    chatP99Ms?: number;
  };
}

export interface MeterTotals {
  ru: number;
  /**
   * RU that do not scale with the meeting's events: lease renewals (leases container) and
   * change-feed polls that found nothing (their rate is set by the poll delay, shared by every
   * meeting on the lease). Included in `ru`, excluded from the per-event figures.
   */
  overheadRu: number;
  bytesWritten: number;
  itemsWritten: number;
  byContainer: Record<string, { ru: number; overheadRu: number; bytesWritten: number; itemsWritten: number }>;
  billed: number;
  outboundBilled: number;
  outboundMessages: number;
  outboundBytes: number;
  upstreamBilled: number;
  upstreamCalls: number;
}

export interface CostScenarioResult {
  name: string;
  participantsAsked: number;
  participants: number;
  /** Why fewer participants than asked, if so. */
  note?: string;
  typedClients: number;
  wsClients: number;
  seconds: number;
  offeredPerSecond: number;
  offered: number;
  accepted: number;
  statuses: Record<string, number>;
  loadSeconds: number;
  drainMs: number;
  envelopes: number;
  /** Per accepted event. */
  perEvent: {
    ru: number;
    /** RU spent in the events container (the event's create and change-feed read): any design's floor. */
    eventsContainerRu: number;
    bytesWritten: number;
    /** Average persisted event document (the events container's writes). */
    eventDocBytes: number;
    envelopes: number;
    /** Billed Web PubSub messages per recipient (outbound to clients only). */
    billedPerRecipient: number;
    bytesPushedPerRecipient: number;
    pushesPerRecipient: number;
  };
  /** Accepted events per second over the time the load really took (the stack may fall behind). */
  acceptedPerSecond: number;
  /**
   * Billed messages each attendee receives per second: at the offered rate (per-event figure ×
   * offered events/s, what the target is about), and as measured over the time the load and its
   * drain really took (lower when the stack could not accept the offered rate).
   */
  billedPerAttendeePerSecond: number;
  billedPerAttendeePerSecondMeasured: number;
  /** Lease renewals and empty change-feed polls per second of the measured phase (not per meeting). */
  overheadRuPerSecond: number;
  dollars: CostBreakdown;
  /** What joining and connecting everybody cost, per participant. */
  joinPerParticipant: { ru: number; billed: number; upstreamCalls: number };
  setupMs: number;
  connectMs: number;
  latency: {
    chat: { count: number; p50: number; p99: number; max: number };
    all: { count: number; p50: number; p99: number; max: number };
  };
  deliveries: {
    typedLost: number;
    typedDuplicated: number;
    typedDivergent: number;
    wsMissing: number;
    wsRepeated: number;
    wsBehind: number;
    wsClosed: number;
  };
  cores: Record<string, number>;
  meters: { join: MeterTotals; load: MeterTotals };
  verdicts: Record<string, { value: number; target: number; met: boolean }>;
}

export interface CostResult {
  quick: boolean;
  scenarios: CostScenarioResult[];
  prices: string;
}

export interface CostOptions {
  quick: boolean;
  /** Scenario names to run (default all). */
  scenarios?: string[];
  /** Multiplies every scenario's duration (e.g. 0.5 for a shorter full run). */
  durationScale?: number;
  separateProcessor?: boolean;
  log: (line: string) => void;
}

/** The scenarios of issue 11; the quick set is the CI smoke (small rooms, a few seconds each). */
export function costScenarios(quick: boolean): CostScenario[] {
  const webinarTargets = { billedPerEventPerRecipient: 0.1, ruPerEvent: 12, bytesPerEventVsDoc: 3 };
  if (quick)
    return [
      {
        name: 'stand-up',
        participants: 8,
        seconds: 6,
        streams: [
          { kind: 'chat', perSecond: 0.2 },
          { kind: 'reaction', perSecond: 0.15 },
          { kind: 'caption', perSecond: 0.1 },
          { kind: 'speaking', perSecond: 0.05 },
        ],
      },
      {
        name: 'webinar (quick: 100 attendees, 10 events/s)',
        participants: 100,
        seconds: 3,
        streams: [
          { kind: 'reaction', perSecond: 8 },
          { kind: 'chat', perSecond: 1.5 },
          { kind: 'caption', perSecond: 0.5 },
        ],
        targets: webinarTargets,
      },
    ];
  return [
    {
      name: 'stand-up',
      participants: 8,
      seconds: 30,
      streams: [
        { kind: 'chat', perSecond: 0.2 },
        { kind: 'reaction', perSecond: 0.15 },
        { kind: 'caption', perSecond: 0.1 },
        { kind: 'speaking', perSecond: 0.05 },
      ],
    },
    {
      name: 'class',
      participants: 50,
      seconds: 20,
      streams: [
        { kind: 'chat', perSecond: 1 },
        { kind: 'reaction', perSecond: 1 },
        { kind: 'caption', perSecond: 0.5 },
        { kind: 'hand', perSecond: 0.25 },
        { kind: 'speaking', perSecond: 0.25 },
      ],
    },
    {
      name: 'webinar',
      participants: 1000,
      seconds: 15,
      streams: [
        { kind: 'reaction', perSecond: 40 },
        { kind: 'chat', perSecond: 7 },
        { kind: 'caption', perSecond: 2 },
        { kind: 'hand', perSecond: 1 },
      ],
      targets: webinarTargets,
    },
    {
      name: 'town hall',
      participants: 10_000,
      seconds: 10,
      streams: [
        { kind: 'reaction', perSecond: 200 },
        { kind: 'chat', perSecond: 2 },
        { kind: 'caption', perSecond: 1 },
        { kind: 'vote', perSecond: 10 },
      ],
      poll: true,
      targets: { billedPerAttendeePerSecond: 2, chatP99Ms: 1000 },
    },
  ];
}

const EMOJI = ['👍', '❤️', '😂', '👏', '🎉', '🔥'];
const LETTER: Record<StreamKind | 'poll', string> = {
  chat: 'c',
  reaction: 'r',
  caption: 'k',
  hand: 'h',
  speaking: 's',
  vote: 'v',
  poll: 'p',
};

interface Planned {
  atMs: number;
  /** Index into the room's participants (0 = host). */
  who: number;
  kind: StreamKind | 'poll';
  body: (id: string) => Record<string, unknown>;
}

/** The scenario's events in time order: each stream evenly spaced, spread over the participants. */
function plan(s: CostScenario, participants: number): Planned[] {
  const out: Planned[] = [];
  const ms = s.seconds * 1000;
  const pollId = 'townhall-poll';
  // Attendees take turns; the host speaks the captions (as a presenter's transcription would).
  let turn = 0;
  const nextAttendee = () => (participants > 1 ? 1 + (turn++ % (participants - 1)) : 0);
  const hands = new Set<number>();
  const speaking = new Set<number>();
  const voters = { next: 1 };
  const voteStart = s.poll ? 1000 : 0;
  for (const stream of s.streams) {
    const span = stream.kind === 'vote' ? ms - voteStart - 1000 : ms;
    const n = Math.max(1, Math.round((stream.perSecond * span) / 1000));
    for (let i = 0; i < n; i++) {
      const atMs = (stream.kind === 'vote' ? voteStart : 0) + ((i + 0.5) * span) / n;
      const k = i;
      switch (stream.kind) {
        case 'chat':
          out.push({
            atMs,
            who: nextAttendee(),
            kind: 'chat',
            body: (id) => ({
              id,
              type: 'chat.message',
              data: { text: `question ${k}: could you say more about the change feed and its leases?` },
            }),
          });
          break;
        case 'reaction':
          out.push({
            atMs,
            who: nextAttendee(),
            kind: 'reaction',
            body: (id) => ({ id, type: 'reaction', data: { emoji: EMOJI[k % EMOJI.length] } }),
          });
          break;
        case 'caption':
          out.push({
            atMs,
            who: 0,
            kind: 'caption',
            body: (id) => ({
              id,
              type: 'caption.segment',
              data: {
                text: `caption ${k}: and that is why the processor commits state with each page`,
                startMs: k * 1000,
                endMs: k * 1000 + 900,
                final: true,
              },
            }),
          });
          break;
        case 'hand': {
          const who = nextAttendee();
          const up = !hands.has(who);
          if (up) hands.add(who);
          else hands.delete(who);
          out.push({
            atMs,
            who,
            kind: 'hand',
            body: (id) => ({ id, type: up ? 'hand.raise' : 'hand.lower' }),
          });
          break;
        }
        case 'speaking': {
          const who = k % Math.min(participants, 4);
          const start = !speaking.has(who);
          if (start) speaking.add(who);
          else speaking.delete(who);
          out.push({
            atMs,
            who,
            kind: 'speaking',
            body: (id) => ({ id, type: start ? 'speaking.start' : 'speaking.stop' }),
          });
          break;
        }
        case 'vote': {
          // Each attendee votes once (a repeat vote is accepted but changes nothing).
          const who = participants > 1 ? 1 + ((voters.next++ - 1) % (participants - 1)) : 0;
          out.push({
            atMs,
            who,
            kind: 'vote',
            body: (id) => ({ id, type: 'poll.vote', data: { pollId, option: k % 3 } }),
          });
          break;
        }
      }
    }
  }
  if (s.poll) {
    out.push({
      atMs: 0,
      who: 0,
      kind: 'poll',
      body: (id) => ({
        id,
        type: 'poll.open',
        data: { pollId, question: 'Which topic next?', options: ['scaling', 'cost', 'latency'] },
      }),
    });
    out.push({
      atMs: ms,
      who: 0,
      kind: 'poll',
      body: (id) => ({ id, type: 'poll.close', data: { pollId } }),
    });
  }
  return out.sort((a, b) => a.atMs - b.atMs);
}

interface LoadOutcome {
  accepted: Map<string, string[]>;
  acceptedCount: number;
  offered: number;
  statuses: Record<string, number>;
  seconds: number;
}

/**
 * Open loop: each planned event is posted at its time (not waiting for earlier answers, up to 256
 * in flight); throttled and failed posts are retried with the same id, as an app would.
 */
async function runLoad(
  api: JsonClient,
  room: BenchParticipant[],
  events: Planned[],
  prefix: string,
): Promise<LoadOutcome> {
  const accepted = new Map<string, string[]>();
  const statuses: Record<string, number> = {};
  let acceptedCount = 0;
  let inFlight = 0;
  const pending = new Set<Promise<void>>();
  const t0 = performance.now();
  const post = async (p: Planned, n: number) => {
    const participant = room[p.who]!;
    const id = `${prefix}${LETTER[p.kind]}${n}-${Math.round((performance.timeOrigin + performance.now()) * 1000).toString(36)}`;
    const body = p.body(id);
    const deadline = performance.now() + 60_000;
    inFlight++;
    try {
      for (;;) {
        let status = 0;
        let retryAfter = 0.2;
        try {
          const res = await api.request('POST', `/meetings/${participant.meetingId}/events`, {
            token: participant.token,
            body,
            timeoutMs: 15_000,
          });
          status = res.status;
          retryAfter = Number(res.headers['retry-after'] ?? 0.2);
        } catch {
          status = 0;
        }
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status === 202) {
          let list = accepted.get(participant.meetingId);
          if (!list) accepted.set(participant.meetingId, (list = []));
          list.push(id);
          acceptedCount++;
          return;
        }
        const retryable = status === 0 || status === 429 || status === 503 || status >= 500;
        if (!retryable || performance.now() > deadline) return;
        await sleep(Math.min(5, retryAfter) * 1000);
      }
    } finally {
      inFlight--;
    }
  };
  let i = 0;
  while (i < events.length) {
    const now = performance.now() - t0;
    while (i < events.length && events[i]!.atMs <= now && inFlight < 256) {
      const work = post(events[i]!, i);
      pending.add(work);
      void work.finally(() => pending.delete(work));
      i++;
    }
    await sleep(Math.max(1, Math.min(20, (events[i]?.atMs ?? now) - now)));
  }
  await Promise.all(pending);
  return {
    accepted,
    acceptedCount,
    offered: events.length,
    statuses,
    seconds: (performance.now() - t0) / 1000,
  };
}

// ---------- meters ----------

function signJwt(key: string, claims: Record<string, unknown>): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64url');
  const body = `${b64('{"alg":"HS256","typ":"JWT"}')}.${b64(JSON.stringify(claims))}`;
  return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
}

interface CosmosStats {
  containers: Record<
    string,
    {
      requestCharge: number;
      bytesWritten: number;
      itemsWritten: number;
      emptyChangeFeedPages?: { requestCharge: number };
    }
  >;
  account: { requestCharge: number };
}

interface HubStats {
  billedMessages: number;
  hubs: Record<
    string,
    {
      billedMessages: number;
      outbound: { messages: number; bytes: number; billedMessages: number };
      upstream: { messages: number; billedMessages: number };
    }
  >;
}

/** Both meters, read over loopback. */
class Meters {
  private readonly cosmos: JsonClient;
  private readonly hub: JsonClient;
  private readonly hubKey: string;
  private readonly hubUrl: string;

  constructor(stack: BenchStack) {
    const cosmos = parseConnectionString(stack.env.CosmosDBConnection ?? '');
    const wps = parseConnectionString(stack.env.WebPubSubConnectionString ?? '');
    this.cosmos = new JsonClient(cosmos.AccountEndpoint ?? '', 2);
    this.hubUrl = (wps.Endpoint ?? '').replace(/\/+$/, '');
    this.hub = new JsonClient(this.hubUrl, 2);
    this.hubKey = wps.AccessKey ?? '';
  }

  private hubAuth(): string {
    const now = Math.floor(Date.now() / 1000);
    return signJwt(this.hubKey, { aud: `${this.hubUrl}/_embedded/stats`, iat: now, exp: now + 300 });
  }

  async read(): Promise<MeterTotals> {
    const [c, h] = await Promise.all([
      this.cosmos.request<CosmosStats>('GET', '/_embedded/stats'),
      this.hub.request<HubStats>('GET', '/_embedded/stats', { token: this.hubAuth() }),
    ]);
    if (c.status !== 200) throw new Error(`cosmos stats: ${c.status}`);
    if (h.status !== 200) throw new Error(`hub stats: ${h.status} ${JSON.stringify(h.body)}`);
    const byContainer: MeterTotals['byContainer'] = {};
    let ru = c.body.account.requestCharge;
    let overheadRu = 0;
    let bytesWritten = 0;
    let itemsWritten = 0;
    for (const [name, t] of Object.entries(c.body.containers)) {
      const empty = t.emptyChangeFeedPages?.requestCharge ?? 0;
      const lease = name.endsWith('/leases');
      byContainer[name] = {
        ru: t.requestCharge,
        overheadRu: lease ? t.requestCharge : empty,
        bytesWritten: t.bytesWritten,
        itemsWritten: t.itemsWritten,
      };
      ru += t.requestCharge;
      overheadRu += lease ? t.requestCharge : empty;
      bytesWritten += t.bytesWritten;
      itemsWritten += t.itemsWritten;
    }
    const hubs = Object.values(h.body.hubs);
    const sum = (f: (x: (typeof hubs)[number]) => number) => hubs.reduce((a, x) => a + f(x), 0);
    return {
      ru,
      overheadRu,
      bytesWritten,
      itemsWritten,
      byContainer,
      billed: h.body.billedMessages,
      outboundBilled: sum((x) => x.outbound.billedMessages),
      outboundMessages: sum((x) => x.outbound.messages),
      outboundBytes: sum((x) => x.outbound.bytes),
      upstreamBilled: sum((x) => x.upstream.billedMessages),
      upstreamCalls: sum((x) => x.upstream.messages),
    };
  }

  async reset(): Promise<void> {
    await Promise.all([
      this.cosmos.request('DELETE', '/_embedded/stats'),
      this.hub.request('DELETE', '/_embedded/stats', { token: this.hubAuth() }),
    ]);
  }

  close(): void {
    this.cosmos.close();
    this.hub.close();
  }
}

function delta(a: MeterTotals, b: MeterTotals): MeterTotals {
  const byContainer: MeterTotals['byContainer'] = {};
  for (const [k, v] of Object.entries(b.byContainer)) {
    const o = a.byContainer[k] ?? { ru: 0, overheadRu: 0, bytesWritten: 0, itemsWritten: 0 };
    byContainer[k] = {
      ru: round2(v.ru - o.ru),
      overheadRu: round2(v.overheadRu - o.overheadRu),
      bytesWritten: v.bytesWritten - o.bytesWritten,
      itemsWritten: v.itemsWritten - o.itemsWritten,
    };
  }
  return {
    ru: round2(b.ru - a.ru),
    overheadRu: round2(b.overheadRu - a.overheadRu),
    bytesWritten: b.bytesWritten - a.bytesWritten,
    itemsWritten: b.itemsWritten - a.itemsWritten,
    byContainer,
    billed: b.billed - a.billed,
    outboundBilled: b.outboundBilled - a.outboundBilled,
    outboundMessages: b.outboundMessages - a.outboundMessages,
    outboundBytes: b.outboundBytes - a.outboundBytes,
    upstreamBilled: b.upstreamBilled - a.upstreamBilled,
    upstreamCalls: b.upstreamCalls - a.upstreamCalls,
  };
}

// ---------- the lightweight crowd ----------

class WsCrowd {
  private constructor(private readonly child: ChildProcess) {}

  static async start(urls: string[]): Promise<{ crowd: WsCrowd; failed: number; ms: number }> {
    const child = fork(path.join(__dirname, 'lib', 'cost-crowd.js'), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const crowd = new WsCrowd(child);
    const r = await crowd.ask<{ count: number; failed: number; ms: number }>({ cmd: 'connect', urls });
    return { crowd, failed: r.failed, ms: r.ms };
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  ask<T>(command: CrowdCommand): Promise<T> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`attendee process exited (${code})`));
      this.child.once('exit', onExit);
      this.child.once('message', (m: T) => {
        this.child.off('exit', onExit);
        resolve(m);
      });
      this.child.send(command);
    });
  }

  status(): Promise<CrowdStatus> {
    return this.ask<CrowdStatus>({ cmd: 'status' });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.child.send({ cmd: 'stop' } satisfies CrowdCommand);
    });
  }
}

// ---------- one scenario ----------

/** Settings for the bench stack: the rate limits raised so the scripted load and joins pass. */
const SETTINGS: Record<string, string> = {
  RATE_LIMIT_EVENTS_PER_SECOND: '1000',
  RATE_LIMIT_EVENTS_BURST: '2000',
  RATE_LIMIT_REQUESTS_PER_SECOND: '1000',
  RATE_LIMIT_REQUESTS_BURST: '2000',
  RATE_LIMIT_JOINS_PER_SECOND: '100000',
  RATE_LIMIT_JOINS_BURST: '100000',
};

const TYPED_CLIENTS = 3;

async function runScenario(
  s: CostScenario,
  opts: CostOptions & { durationScale: number },
): Promise<CostScenarioResult> {
  const participants = Math.min(s.participants, MAX_PARTICIPANTS);
  const note =
    participants < s.participants
      ? `run with ${participants} participants, the most a meeting admits (MAX_PARTICIPANTS in lib/domain/meeting.ts), not ${s.participants}`
      : undefined;
  const seconds = Math.max(1, Math.round(s.seconds * opts.durationScale));
  const scenario = { ...s, seconds };
  const log = (line: string) => opts.log(`cost ${s.name}: ${line}`);
  log('starting the stack');
  const stack = await startBenchStack({ settings: SETTINGS, separateProcessor: opts.separateProcessor });
  const api = new JsonClient(stack.apiUrl, 64);
  const meters = new Meters(stack);
  let typed: Crowd | undefined;
  let ws: WsCrowd | undefined;
  try {
    log('stack up');
    await meters.reset();
    const before = await meters.read();
    log(`${participants} participants joining${note ? ` (${note})` : ''}`);
    const fleet = await createFleet(api, 1, participants, 16);
    const room = fleet.participants[0]!;
    log(`joined in ${Math.round(fleet.setupMs)} ms; connecting`);
    const prefix = `cost-${Date.now().toString(36)}-`;
    const t0 = performance.now();
    const typedStart = await Crowd.start(stack.apiUrl, room.slice(0, TYPED_CLIENTS), 1, prefix);
    typed = typedStart.crowd;
    if (typedStart.failed > 0) throw new Error(`${typedStart.failed} typed clients failed to connect`);
    const wsStart = await WsCrowd.start(room.slice(TYPED_CLIENTS).map((p) => p.url));
    ws = wsStart.crowd;
    if (wsStart.failed > 0) throw new Error(`${wsStart.failed} attendees failed to connect`);
    const connectMs = Math.round(performance.now() - t0);
    log(`${room.length} connected in ${connectMs} ms; settling`);
    // Joining produces roster and presence envelopes; wait until every attendee has them all.
    await settle(typed, ws, room[0]!.meetingId, 30_000);
    const joined = await meters.read();
    const startSeq = (await typed.status()).minSeq.get(room[0]!.meetingId) ?? 0;
    await typed.reset();
    await ws.ask({ cmd: 'reset', seq: startSeq });

    const events = plan(scenario, room.length);
    const offeredPerSecond = Math.round((events.length / seconds) * 10) / 10;
    log(`${events.length} events over ${seconds} s`);
    const cpu = new CpuMeter(() => ({ ...stack.pids(), typed: typed?.pids[0], attendees: ws?.pid }));
    cpu.begin();
    const load = await runLoad(api, room, events, prefix);
    const d0 = performance.now();
    const verified = await drain(typed, load.accepted, 15_000, 120_000);
    const endSeq = (await typed.status()).minSeq.get(room[0]!.meetingId) ?? 0;
    const crowdStatus = await waitForCrowd(ws, endSeq, 30_000);
    const drainMs = Math.round(performance.now() - d0);
    const cores = cpu.end();
    const after = await meters.read();
    const report = await typed.report();

    const loadMeters = delta(joined, after);
    const joinMeters = delta(before, joined);
    const n = Math.max(1, load.acceptedCount);
    const recipients = room.length;
    const eventsContainer = Object.entries(loadMeters.byContainer).find(([k]) => k.endsWith('/events'))?.[1];
    const envelopes = endSeq - startSeq;
    const chat: number[] = [];
    const all: number[] = [];
    for (const [id, e] of report.events) {
      if (e.n < Math.min(TYPED_CLIENTS, recipients)) continue; // not yet everywhere: counted as lost
      const ms = e.last / 1000 - e.accepted;
      all.push(ms);
      if (id.startsWith(`${prefix}c`)) chat.push(ms);
    }
    const perEvent = {
      ru: round2((loadMeters.ru - loadMeters.overheadRu) / n),
      // The events container: the event's create, its change-feed read, idempotency look-ups.
      eventsContainerRu: round2((eventsContainer ? eventsContainer.ru - eventsContainer.overheadRu : 0) / n),
      bytesWritten: Math.round(loadMeters.bytesWritten / n),
      eventDocBytes: eventsContainer?.itemsWritten
        ? Math.round(eventsContainer.bytesWritten / eventsContainer.itemsWritten)
        : 0,
      envelopes: round2(envelopes / n),
      billedPerRecipient: round3(loadMeters.outboundBilled / recipients / n),
      bytesPushedPerRecipient: Math.round(loadMeters.outboundBytes / recipients / n),
      pushesPerRecipient: round3(loadMeters.outboundMessages / recipients / n),
    };
    const billedPerAttendeePerSecond = round2(perEvent.billedPerRecipient * offeredPerSecond);
    const elapsed = load.seconds + drainMs / 1000;
    const billedPerAttendeePerSecondMeasured = round2(loadMeters.outboundBilled / recipients / elapsed);
    const dollars = dollarsPer1000ParticipantMinutes(
      recipients,
      seconds / 60,
      loadMeters.ru - loadMeters.overheadRu,
      loadMeters.billed,
    );
    const result: CostScenarioResult = {
      name: s.name,
      participantsAsked: s.participants,
      participants: room.length,
      ...(note ? { note } : {}),
      typedClients: Math.min(TYPED_CLIENTS, room.length),
      wsClients: Math.max(0, room.length - TYPED_CLIENTS),
      seconds,
      offeredPerSecond,
      offered: load.offered,
      accepted: load.acceptedCount,
      statuses: load.statuses,
      loadSeconds: round2(load.seconds),
      drainMs,
      envelopes,
      perEvent,
      acceptedPerSecond: round1(load.acceptedCount / Math.max(seconds, load.seconds)),
      billedPerAttendeePerSecond,
      billedPerAttendeePerSecondMeasured,
      overheadRuPerSecond: round2(loadMeters.overheadRu / elapsed),
      dollars: {
        cosmos: round4(dollars.cosmos),
        webPubSubMessages: round4(dollars.webPubSubMessages),
        webPubSubUnits: round4(dollars.webPubSubUnits),
        total: round4(dollars.total),
      },
      joinPerParticipant: {
        ru: round2(joinMeters.ru / recipients),
        billed: round2(joinMeters.billed / recipients),
        upstreamCalls: round2(joinMeters.upstreamCalls / recipients),
      },
      setupMs: Math.round(fleet.setupMs),
      connectMs,
      latency: { chat: quantiles(chat), all: quantiles(all) },
      deliveries: {
        typedLost: verified.lost,
        typedDuplicated: verified.duplicatedEvents,
        typedDivergent: verified.divergent,
        wsMissing: crowdStatus.missing,
        wsRepeated: crowdStatus.repeated,
        // Attendees that never reached the seq the typed clients ended at (pushes lost at the end).
        wsBehind: crowdStatus.connected > 0 ? Math.max(0, endSeq - crowdStatus.minLast) : 0,
        wsClosed: crowdStatus.closed,
      },
      cores,
      meters: { join: joinMeters, load: loadMeters },
      verdicts: {},
    };
    const t = s.targets ?? {};
    const verdict = (key: string, value: number, target: number | undefined) => {
      if (target !== undefined) result.verdicts[key] = { value, target, met: value <= target };
    };
    verdict('billedPerEventPerRecipient', perEvent.billedPerRecipient, t.billedPerEventPerRecipient);
    verdict('ruPerEvent', perEvent.ru, t.ruPerEvent);
    if (t.bytesPerEventVsDoc !== undefined && perEvent.eventDocBytes > 0)
      verdict(
        'bytesPerEventVsDoc',
        round2(perEvent.bytesWritten / perEvent.eventDocBytes),
        t.bytesPerEventVsDoc,
      );
    verdict('billedPerAttendeePerSecond', billedPerAttendeePerSecond, t.billedPerAttendeePerSecond);
    verdict('chatP99Ms', result.latency.chat.p99, t.chatP99Ms);
    log(
      `${load.acceptedCount}/${load.offered} accepted; per event ${perEvent.ru} RU, ${perEvent.bytesWritten} B written, ` +
        `${perEvent.envelopes} envelopes, ${perEvent.billedPerRecipient} billed msgs per recipient; ` +
        `lost ${verified.lost}, ws missing ${crowdStatus.missing}`,
    );
    return result;
  } catch (err) {
    console.error(stack.logs.slice(-40).join('\n'));
    throw err;
  } finally {
    await typed?.stop();
    await ws?.stop();
    meters.close();
    api.close();
    await stack.cleanup();
    log('stack stopped');
  }
}

/** Until the typed clients' seq stops moving and every attendee has reached it. */
async function settle(typed: Crowd, ws: WsCrowd, meetingId: string, capMs: number): Promise<void> {
  const t0 = performance.now();
  let last = -1;
  let stableSince = performance.now();
  for (;;) {
    const seq = (await typed.status()).minSeq.get(meetingId) ?? 0;
    const crowd = await ws.status();
    const now = performance.now();
    if (seq !== last) {
      last = seq;
      stableSince = now;
    }
    // Attendees only see what is pushed after they connected: all silent is settled too.
    const attendeesThere = crowd.silent === crowd.connected || crowd.minLast >= seq;
    if ((attendeesThere && now - stableSince > 1000) || now - t0 > capMs) return;
    await sleep(200);
  }
}

/** Until every attendee received `seq` (or `capMs` passed); their counters then. */
async function waitForCrowd(ws: WsCrowd, seq: number, capMs: number): Promise<CrowdStatus> {
  const t0 = performance.now();
  for (;;) {
    const s = await ws.status();
    if (s.connected === 0 || s.minLast >= seq || performance.now() - t0 > capMs) return s;
    await sleep(100);
  }
}

function quantiles(ms: number[]): { count: number; p50: number; p99: number; max: number } {
  const v = [...ms].sort((a, b) => a - b);
  const at = (q: number) => (v.length ? v[Math.min(v.length - 1, Math.ceil(q * v.length) - 1)]! : NaN);
  return {
    count: v.length,
    p50: round1(at(0.5)),
    p99: round1(at(0.99)),
    max: round1(v[v.length - 1] ?? NaN),
  };
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const round2 = (x: number) => Math.round(x * 100) / 100;
const round3 = (x: number) => Math.round(x * 1000) / 1000;
const round4 = (x: number) => Math.round(x * 10_000) / 10_000;

export async function runCost(opts: CostOptions): Promise<CostResult> {
  const all = costScenarios(opts.quick);
  const wanted = opts.scenarios?.map((x) => x.toLowerCase());
  const chosen = wanted ? all.filter((s) => wanted.some((w) => s.name.toLowerCase().startsWith(w))) : all;
  const scenarios: CostScenarioResult[] = [];
  for (const s of chosen)
    scenarios.push(await runScenario(s, { ...opts, durationScale: opts.durationScale ?? 1 }));
  return { quick: opts.quick, scenarios, prices: 'bench/prices.ts (list prices to verify)' };
}

/** Lost, duplicated or reordered deliveries in any scenario (the run fails on these). */
export function costDeliveryFailures(r: CostResult): string[] {
  const out: string[] = [];
  for (const s of r.scenarios) {
    const d = s.deliveries;
    const bad =
      d.typedLost +
      d.typedDuplicated +
      d.typedDivergent +
      d.wsMissing +
      d.wsRepeated +
      d.wsBehind +
      d.wsClosed;
    if (bad > 0) out.push(`${s.name}: ${JSON.stringify(d)}`);
  }
  return out;
}

if (require.main === module) {
  const args = new Args();
  const quick = args.flag('quick');
  const t0 = performance.now();
  const log = (l: string) => console.error(`[${((performance.now() - t0) / 1000).toFixed(1)} s] ${l}`);
  runCost({
    quick,
    scenarios: args.list('cost-scenarios'),
    durationScale: args.num('cost-duration-scale', 1),
    log,
  }).then(
    (r) => {
      console.log(JSON.stringify(r, null, 2));
      process.exit(costDeliveryFailures(r).length > 0 ? 1 : 0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}

// ---------- tables ----------

const f = (x: number | undefined, digits = 2) =>
  x === undefined || !Number.isFinite(x)
    ? 'n/a'
    : Math.abs(x) >= 100
      ? String(Math.round(x))
      : String(Math.round(x * 10 ** digits) / 10 ** digits);

function verdictCells(s: CostScenarioResult, key: string, label: (t: number) => string): [string, string] {
  const v = s.verdicts[key];
  if (!v) return ['', ''];
  // A room smaller than the target's room gets a verdict for the room measured, marked as such.
  const partial = s.participants < s.participantsAsked ? ` (at ${s.participants})` : '';
  // Latency at a load the stack did not accept is no verdict: accepted events were not queued behind
  // the offered ones (the backlog sat before the 202), so the figure flatters.
  if (key === 'chatP99Ms' && !sustained(s))
    return [label(v.target), `n/a: ${s.acceptedPerSecond}/s accepted`];
  return [label(v.target), (v.met ? 'yes' : 'NO') + partial];
}

/** The stack accepted (nearly) the offered rate. */
function sustained(s: CostScenarioResult): boolean {
  return s.acceptedPerSecond >= 0.9 * s.offeredPerSecond;
}

/** Rows for bench/run.ts's table (measure, meetstream, baseline, ratio, target, met). */
export function costRows(r: CostResult): string[][] {
  const rows: string[][] = [];
  for (const s of r.scenarios) {
    const p = s.perEvent;
    const d = s.deliveries;
    rows.push([
      `Cost: ${s.name}: ${s.participants} participants (${s.typedClients} SDK clients + ${s.wsClients} ws attendees), ` +
        `${s.offeredPerSecond} events/s offered for ${s.seconds} s, ${s.accepted} accepted (${s.acceptedPerSecond}/s over ${f(s.loadSeconds, 1)} s)` +
        (s.note ? `; ${s.note}` : ''),
    ]);
    rows.push([
      'Cosmos DB RU per accepted event (estimate)',
      f(p.ru),
      `events container alone (create + feed read) ${f(p.eventsContainerRu)}`,
      `×${f(p.ru / p.eventsContainerRu, 1)}`,
      ...verdictCells(s, 'ruPerEvent', (t) => `≤ ${t}`),
    ]);
    rows.push([
      'bytes written to Cosmos DB per event',
      `${p.bytesWritten}`,
      `event document ${p.eventDocBytes}`,
      `×${f(p.bytesWritten / p.eventDocBytes, 1)}`,
      ...verdictCells(s, 'bytesPerEventVsDoc', (t) => `≤ ${t}× event doc`),
    ]);
    rows.push([
      'billed Web PubSub messages per event per recipient (bytes pushed)',
      `${f(p.billedPerRecipient, 3)} (${p.bytesPushedPerRecipient} B)`,
      'one 2 KB message per event: 1',
      `×${f(p.billedPerRecipient, 3)}`,
      ...verdictCells(s, 'billedPerEventPerRecipient', (t) => `≤ ${t}`),
    ]);
    rows.push([
      'envelopes per event · events per push · billed msgs per attendee per second at the offered rate (measured)',
      `${f(p.envelopes)} · ${f(p.pushesPerRecipient > 0 ? 1 / p.pushesPerRecipient : NaN, 1)} · ${f(s.billedPerAttendeePerSecond)} (${f(s.billedPerAttendeePerSecondMeasured)})`,
      '',
      '',
      ...verdictCells(s, 'billedPerAttendeePerSecond', (t) => `≤ ${t} msgs/s per attendee`),
    ]);
    rows.push([
      'accepted → visible at the SDK clients p50 / p99 (ms): chat · all events',
      `${f(s.latency.chat.p50, 1)} / ${f(s.latency.chat.p99, 1)} · ${f(s.latency.all.p50, 1)} / ${f(s.latency.all.p99, 1)}`,
      '',
      '',
      ...verdictCells(s, 'chatP99Ms', (t) => `chat p99 ≤ ${t}`),
    ]);
    rows.push([
      '$ per 1,000 participant-minutes (list prices to verify): Cosmos + WPS messages + WPS units',
      `${f(s.dollars.total, 4)} (${f(s.dollars.cosmos, 4)} + ${f(s.dollars.webPubSubMessages, 4)} + ${f(s.dollars.webPubSubUnits, 4)})`,
      '',
      '',
      '',
      '',
    ]);
    rows.push([
      'deliveries: lost / duplicated / diverging (SDK) · missing / repeated / behind / closed (ws)',
      `${d.typedLost} / ${d.typedDuplicated} / ${d.typedDivergent} · ${d.wsMissing} / ${d.wsRepeated} / ${d.wsBehind} / ${d.wsClosed}`,
      '',
      '',
      '0',
      costDeliveryFailures({ ...r, scenarios: [s] }).length === 0 ? 'yes' : 'NO',
    ]);
    rows.push([
      'join + connect, per participant: RU · billed msgs (upstream calls)',
      `${f(s.joinPerParticipant.ru)} · ${f(s.joinPerParticipant.billed)} (${f(s.joinPerParticipant.upstreamCalls)})`,
      `not per event: lease + empty-poll overhead ${f(s.overheadRuPerSecond)} RU/s`,
      '',
      '',
      '',
    ]);
  }
  return rows;
}

/** The one-line-per-scenario cost table for docs/benchmarks.md. */
export function renderCostMarkdown(r: CostResult, label: string): string {
  const header = [
    'scenario',
    'participants',
    'events/s offered (accepted/s)',
    'RU / event',
    'bytes written / event (event doc)',
    'envelopes / event',
    'events / push',
    'billed msgs / event / recipient',
    'billed msgs / s / attendee',
    'chat p50 / p99 (ms)',
    '$ / 1,000 participant-min',
    'lost / dup / reordered',
  ];
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const s of r.scenarios) {
    const p = s.perEvent;
    const d = s.deliveries;
    lines.push(
      `| ${s.name} (${label}) | ${s.participants}${s.participants < s.participantsAsked ? ` of ${s.participantsAsked}` : ''} | ` +
        `${s.offeredPerSecond} (${s.acceptedPerSecond}) | ${f(p.ru)} | ${p.bytesWritten} (${p.eventDocBytes}) | ${f(p.envelopes)} | ` +
        `${f(p.pushesPerRecipient > 0 ? 1 / p.pushesPerRecipient : NaN, 1)} | ` +
        `${f(p.billedPerRecipient, 3)} | ${f(s.billedPerAttendeePerSecond)} | ${f(s.latency.chat.p50, 0)} / ${f(s.latency.chat.p99, 0)} | ` +
        `${f(s.dollars.total, 3)} | ${d.typedLost + d.wsMissing + d.wsBehind} / ${d.typedDuplicated + d.wsRepeated} / ${d.typedDivergent} |`,
    );
  }
  return lines.join('\n');
}
