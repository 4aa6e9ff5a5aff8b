/**
 * A process of benchmark participants: one `@azure/web-pubsub-client` per participant, as an app
 * would connect them. Run with `fork()`; commands arrive over IPC (see `Command`).
 *
 * Each participant keeps the meeting's sequence the way SPEC §7 asks of a client: envelopes are
 * applied in `seq` order; a gap, or any fresh connection (first connect, reconnect after an
 * outage), triggers a catch-up from `GET …/events?after=<last seq>`; seqs already applied are
 * dropped (counted as redelivered). Live event envelopes of the load (`id` starting with the run's
 * prefix) are timed against their hop stamps: accepted (API) → processed (change feed) → delivered
 * (here), and against the send time the load generator wrote into the id.
 */
import { WebPubSubClient } from '@azure/web-pubsub-client';
import { encode, histogram, nowUs, recordUs } from './hdr';
import { JsonClient, pool, sleep } from './http';
import type { BenchParticipant } from './fleet';

export type Command =
  | { cmd: 'connect'; apiUrl: string; participants: BenchParticipant[]; prefix: string }
  | { cmd: 'reset' }
  | { cmd: 'status' }
  | { cmd: 'verify'; accepted: Record<string, string[]> }
  | { cmd: 'report' }
  | { cmd: 'stop' };

export interface StatusReply {
  type: 'status';
  connected: number;
  /** Per meeting: the lowest and highest contiguous seq among this process's participants. */
  meetings: Record<string, { min: number; max: number }>;
  catchingUp: number;
  reconnects: number;
}

export interface VerifyReply {
  type: 'verify';
  participants: number;
  /** Accepted events missing from a participant's gapless sequence (summed over participants). */
  lost: number;
  /** Accepted events present at more than one seq of a meeting (a real duplicate). */
  duplicatedEvents: number;
  /** Participants whose sequence disagrees with another's at the same seq. */
  divergent: number;
  /** Participant events in the sequences that the load generator did not send. */
  foreign: number;
  /** Envelopes received again for a seq already applied (dropped by seq, as clients must). */
  redelivered: number;
  /** Envelopes obtained by catch-up rather than live. */
  caughtUp: number;
  catchUps: number;
  reconnects: number;
}

export interface ReportReply {
  type: 'report';
  /** Encoded histograms (µs), one sample per live delivery. */
  hist: Record<
    'acceptedToDelivered' | 'acceptedToProcessed' | 'processedToDelivered' | 'sentToDelivered',
    string
  >;
  deliveries: number;
  messages: number;
  /** Per load event: [id, accepted (ms), latest live delivery (µs), live deliveries]. */
  events: Array<[string, number, number, number]>;
}

interface Envelope {
  seq: number;
  kind: string;
  type: string;
  id?: string;
  trace?: { accepted: number; processed: number };
}

interface Participant {
  p: BenchParticipant;
  client: WebPubSubClient;
  next: number;
  ahead: Map<number, Envelope>;
  catchingUp: boolean;
  connected: boolean;
  everConnected: boolean;
}

const SYSTEM_TYPES = new Set([
  'participant.joined',
  'participant.left',
  'participant.away',
  'participant.back',
  'meeting.started',
  'meeting.ended',
]);

function main(): void {
  let api: JsonClient | undefined;
  let prefix = 'b';
  const participants: Participant[] = [];
  /** Per meeting, seq → what was applied there (event id or kind/type), from the first participant to apply it. */
  const canonical = new Map<string, string[]>();
  const counters = { redelivered: 0, caughtUp: 0, catchUps: 0, reconnects: 0, divergent: 0, messages: 0 };
  const divergent = new Set<Participant>();
  let hist = freshHistograms();
  let deliveries = 0;
  let events = new Map<string, { accepted: number; last: number; n: number }>();

  function freshHistograms() {
    return {
      acceptedToDelivered: histogram(),
      acceptedToProcessed: histogram(),
      processedToDelivered: histogram(),
      sentToDelivered: histogram(),
    };
  }

  const keyOf = (e: Envelope) => (e.kind === 'event' ? `e:${e.type}:${e.id}` : `${e.kind}:${e.type}`);

  function apply(x: Participant, e: Envelope): void {
    let seqs = canonical.get(x.p.meetingId);
    if (!seqs) canonical.set(x.p.meetingId, (seqs = []));
    const key = keyOf(e);
    const known = seqs[e.seq];
    if (known === undefined) seqs[e.seq] = key;
    else if (known !== key && !divergent.has(x)) divergent.add(x);
    x.next = e.seq + 1;
  }

  function drain(x: Participant): void {
    for (let e = x.ahead.get(x.next); e; e = x.ahead.get(x.next)) {
      x.ahead.delete(e.seq);
      apply(x, e);
    }
    for (const seq of x.ahead.keys()) if (seq < x.next) x.ahead.delete(seq);
  }

  async function catchUp(x: Participant): Promise<void> {
    if (x.catchingUp || !api) return;
    x.catchingUp = true;
    counters.catchUps++;
    try {
      for (let round = 0; round < 1000; round++) {
        const res = await api.request<{ items: Envelope[]; continuation: string | null }>(
          'GET',
          `/meetings/${x.p.meetingId}/events?after=${x.next - 1}&limit=500`,
          { token: x.p.token },
        );
        if (res.status === 429 || res.status === 503 || res.status >= 500) {
          await sleep(Number(res.headers['retry-after'] ?? 1) * 1000);
          continue;
        }
        if (res.status !== 200) throw new Error(`catch-up: ${res.status} ${JSON.stringify(res.body)}`);
        for (const e of res.body.items) {
          if (e.seq !== x.next) continue;
          apply(x, e);
          counters.caughtUp++;
        }
        drain(x);
        if (res.body.continuation === null && (x.ahead.size === 0 || x.ahead.has(x.next))) break;
        if (res.body.items.length === 0) await sleep(50);
      }
    } catch (err) {
      console.error(`participant ${x.p.participantId}: catch-up failed: ${(err as Error).message}`);
    } finally {
      x.catchingUp = false;
      drain(x);
      if (x.ahead.size > 0) setTimeout(() => void catchUp(x), 100);
    }
  }

  function onMessage(x: Participant, data: unknown): void {
    if (!Array.isArray(data)) return;
    const recv = nowUs();
    counters.messages++;
    for (const e of data as Envelope[]) {
      if (e.seq < x.next || x.ahead.has(e.seq)) {
        counters.redelivered++;
        continue;
      }
      if (e.kind === 'event' && e.trace && e.id?.startsWith(prefix)) {
        const acceptedUs = e.trace.accepted * 1000;
        recordUs(hist.acceptedToDelivered, recv - acceptedUs);
        recordUs(hist.acceptedToProcessed, (e.trace.processed - e.trace.accepted) * 1000);
        recordUs(hist.processedToDelivered, recv - e.trace.processed * 1000);
        const sent = parseInt(e.id.slice(e.id.lastIndexOf('-') + 1), 36);
        if (Number.isFinite(sent)) recordUs(hist.sentToDelivered, recv - sent);
        deliveries++;
        const ev = events.get(e.id);
        if (ev) {
          ev.n++;
          if (recv > ev.last) ev.last = recv;
        } else events.set(e.id, { accepted: e.trace.accepted, last: recv, n: 1 });
      }
      if (e.seq === x.next && !x.catchingUp) apply(x, e);
      else {
        x.ahead.set(e.seq, e);
        void catchUp(x);
      }
    }
    drain(x);
  }

  async function connect(cmd: Extract<Command, { cmd: 'connect' }>): Promise<void> {
    api = new JsonClient(cmd.apiUrl, 32);
    prefix = cmd.prefix;
    const t0 = performance.now();
    let failed = 0;
    await pool(cmd.participants, 50, async (p) => {
      const client = new WebPubSubClient(p.url);
      const x: Participant = {
        p,
        client,
        next: 1,
        ahead: new Map(),
        catchingUp: false,
        connected: false,
        everConnected: false,
      };
      client.on('group-message', (e) => onMessage(x, e.message.data));
      client.on('connected', () => {
        if (x.everConnected) counters.reconnects++;
        x.connected = x.everConnected = true;
        // Every fresh connection may follow missed pushes: catch up (the typed client does the same).
        void catchUp(x);
      });
      client.on('disconnected', () => {
        x.connected = false;
      });
      participants.push(x);
      try {
        await client.start();
      } catch (err) {
        failed++;
        console.error(`participant ${p.participantId}: start failed: ${(err as Error).message}`);
      }
    });
    // The initial catch-ups bring every participant to the meeting's current seq.
    while (participants.some((x) => x.catchingUp)) await sleep(20);
    send({ type: 'connected', count: participants.length - failed, failed, ms: performance.now() - t0 });
  }

  function status(): StatusReply {
    const meetings: StatusReply['meetings'] = {};
    for (const x of participants) {
      const last = x.next - 1;
      const m = (meetings[x.p.meetingId] ??= { min: last, max: last });
      m.min = Math.min(m.min, last);
      m.max = Math.max(m.max, last);
    }
    return {
      type: 'status',
      connected: participants.filter((x) => x.connected).length,
      meetings,
      catchingUp: participants.filter((x) => x.catchingUp).length,
      reconnects: counters.reconnects,
    };
  }

  function verify(accepted: Record<string, string[]>): VerifyReply {
    // seq of each event id per meeting (and how many seqs carry it).
    let foreign = 0;
    const seqOf = new Map<string, Map<string, number[]>>();
    for (const [meetingId, seqs] of canonical) {
      const m = new Map<string, number[]>();
      seqs.forEach((key, seq) => {
        if (key?.startsWith('e:')) {
          const rest = key.slice(2);
          const type = rest.slice(0, rest.indexOf(':'));
          const id = rest.slice(type.length + 1);
          // A participant's event that the load did not send (e.g. hostile input) was stored.
          if (!SYSTEM_TYPES.has(type) && !id.startsWith(prefix)) foreign++;
          const list = m.get(id);
          if (list) list.push(seq);
          else m.set(id, [seq]);
        }
      });
      seqOf.set(meetingId, m);
    }
    let lost = 0;
    let duplicatedEvents = 0;
    for (const [meetingId, ids] of Object.entries(accepted)) {
      const m = seqOf.get(meetingId);
      for (const id of ids) if ((m?.get(id)?.length ?? 0) > 1) duplicatedEvents++;
      for (const x of participants) {
        if (x.p.meetingId !== meetingId) continue;
        for (const id of ids) {
          const seq = m?.get(id)?.[0];
          if (seq === undefined || seq >= x.next) lost++;
        }
      }
    }
    return {
      type: 'verify',
      participants: participants.length,
      lost,
      duplicatedEvents,
      divergent: divergent.size,
      foreign,
      redelivered: counters.redelivered,
      caughtUp: counters.caughtUp,
      catchUps: counters.catchUps,
      reconnects: counters.reconnects,
    };
  }

  function report(): ReportReply {
    const out: ReportReply['events'] = [];
    for (const [id, e] of events) out.push([id, e.accepted, Math.round(e.last), e.n]);
    return {
      type: 'report',
      hist: {
        acceptedToDelivered: encode(hist.acceptedToDelivered),
        acceptedToProcessed: encode(hist.acceptedToProcessed),
        processedToDelivered: encode(hist.processedToDelivered),
        sentToDelivered: encode(hist.sentToDelivered),
      },
      deliveries,
      messages: counters.messages,
      events: out,
    };
  }

  function send(message: unknown): void {
    process.send?.(message);
  }

  process.on('message', (m: Command) => {
    switch (m.cmd) {
      case 'connect':
        connect(m).catch((err: unknown) => {
          console.error(err);
          process.exit(1);
        });
        break;
      case 'reset':
        hist = freshHistograms();
        deliveries = 0;
        counters.messages = 0;
        events = new Map();
        send({ type: 'reset' });
        break;
      case 'status':
        send(status());
        break;
      case 'verify':
        send(verify(m.accepted));
        break;
      case 'report':
        send(report());
        break;
      case 'stop':
        for (const x of participants) x.client.stop();
        api?.close();
        setTimeout(() => process.exit(0), 50);
        break;
    }
  });
  process.on('disconnect', () => process.exit(0));
}

if (require.main === module) main();
