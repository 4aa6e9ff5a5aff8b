/**
 * Chaos: 5 meetings × 10 typed clients (8 WebSocket, 1 SSE, 1 long-poll per meeting) while events
 * are posted concurrently and, at random:
 * - a socket drops for a moment (< 1 s: the reliable session resumes);
 * - a client loses its session for good (the hub ends it, as it does once the recovery window
 *   has passed);
 * - a client goes through a long outage: its network is down (requests fail at once, or get no
 *   answer ever: a black hole), its socket is gone and its session has expired. What matters about an outage longer than 60 s is
 *   simulated in a few seconds: no session to resume, the SSE stream and long-poll cut, retries
 *   backed off, and a backlog to read in several catch-up pages;
 * - a participant closes the app and opens it again (stop, start: resume from lastSeq);
 * and the hub restarts once and the runner restarts once. At the end every client of a meeting
 * holds exactly the meeting's log: no gap, no duplicate, no reordering, whatever its transport.
 * A failing run names each client that differs, and why it might (CHAOS_SEED replays a run).
 */
import { WebPubSubServiceClient } from '@azure/web-pubsub';
import { MeetstreamClient, type Transport } from '../../client';
import { rng } from '../fixtures/meetingScript';
import type { Envelope, EventsPage } from '../../lib/protocol';
import {
  api,
  createMeeting,
  join,
  sleep,
  startTestStack,
  testClientOptions,
  type CreatedMeeting,
  type TestStack,
  storedLog,
} from '../support/stack';

const MEETINGS = 5;
const CLIENTS_PER_MEETING = 10;
const EVENTS_PER_MEETING = 60;
const CHAOS_STEPS = 24;
/** Catch-up page size of the clients: small, so a backlog after an outage takes several pages. */
const PAGE_SIZE = 25;
/** After the last post and the last chaos step, how long everything may take to converge. */
const SETTLE_MS = 45_000;
const SEED = Number(process.env.CHAOS_SEED ?? 20261121);

interface Participant {
  /** `m<meeting>/p<index> <transport>`, for messages. */
  name: string;
  client: MeetstreamClient;
  transport: Transport;
  received: Envelope[];
  /** Recent errors and status changes, for the failure message. */
  trail: string[];
  /** Requests sent and not answered yet, for the failure message. */
  pending: Map<number, string>;
  /** The last request sent, for the failure message: is the client still trying? */
  lastRequest: string;
  token: string;
  /**
   * `down`: every request fails at once (no route to the host). `black-hole`: requests get no
   * answer at all, not even after the network is back (they went into a connection that is dead),
   * until the client gives up on them.
   */
  network: 'up' | 'down' | 'black-hole';
  /** Busy with an outage or a restart: the next one waits. */
  away: boolean;
}

interface Room {
  meeting: CreatedMeeting;
  tokens: string[];
  participants: Participant[];
  posted: string[];
}

/** Cuts the client's socket without a close handshake, as a network failure would. */
function dropSocket(client: MeetstreamClient): void {
  // The Web PubSub client keeps its socket private; reaching it is a test-only shortcut.
  const ws = (
    client.webPubSubClient as unknown as { _wsClient?: { _socket?: { terminate(): void } } } | undefined
  )?._wsClient;
  ws?._socket?.terminate();
}

/** What a request into a black hole gets: nothing, until the client aborts it. */
function never(signal: AbortSignal | null | undefined, what: string): Promise<never> {
  return new Promise<never>((_, reject) => {
    const abort = () => reject(new DOMException(`no answer (${what})`, 'AbortError'));
    if (signal?.aborted) abort();
    signal?.addEventListener('abort', abort, { once: true });
  });
}

/** Where a client's sequence first differs from the log, or undefined when it is the log. */
function difference(received: Envelope[], log: Envelope[]): string | undefined {
  const n = Math.max(received.length, log.length);
  for (let i = 0; i < n; i++) {
    const got = received[i];
    const want = log[i];
    if (JSON.stringify(got) === JSON.stringify(want)) continue;
    const show = (e: Envelope | undefined) => (e ? `seq ${e.seq} ${e.kind}/${e.type}` : 'nothing');
    return `envelope #${i + 1}: got ${show(got)}, log has ${show(want)} (${received.length} delivered, log ${log.length})`;
  }
  return undefined;
}

describe('chaos', () => {
  let stack: TestStack;
  const rooms: Room[] = [];
  const background: Array<Promise<unknown>> = [];
  /** Set when the test ends, so retry loops of a failed run stop too. */
  let over = false;

  beforeAll(async () => {
    stack = await startTestStack({ PRESENCE_GRACE_MS: '3000' });
  });

  afterAll(async () => {
    over = true;
    await Promise.allSettled(background);
    await Promise.all(rooms.flatMap((r) => r.participants.map((p) => p.client.stop())));
    await stack?.cleanup();
  });

  test('every client of every meeting ends with exactly the meeting log through drops, outages and restarts', async () => {
    const started = Date.now();
    const since = () => `${Date.now() - started}ms`;
    const phases: string[] = [];
    const phase = (name: string) => phases.push(`${name} ${since()}`);
    const gaps = { push: 0, reconnect: 0, expired: 0 };
    const errorsSeen = { rateLimited: 0, timedOut: 0 };
    const random = rng(SEED);
    const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)]!;

    // ---- 5 meetings × 10 participants, each with a typed client ----
    rooms.push(
      ...(await Promise.all(
        Array.from({ length: MEETINGS }, async (_, m) => {
          const meeting = await createMeeting(stack, `chaos ${m}`);
          const joined = await Promise.all(
            Array.from({ length: CLIENTS_PER_MEETING - 1 }, (_, p) => join(stack, meeting, `P${m}.${p + 1}`)),
          );
          return {
            meeting,
            tokens: [meeting.hostToken, ...joined.map((j) => j.token)],
            participants: [],
            posted: [],
          };
        }),
      )),
    );
    for (const [m, room] of rooms.entries()) {
      room.participants = room.tokens.map((token, i) => {
        const transport: Transport = i === 8 ? 'sse' : i === 9 ? 'long-poll' : 'websocket';
        const pending = new Map<number, string>();
        const trail: string[] = [];
        const note = (what: string) => trail.push(`${since()} ${what}`) > 12 && trail.shift();
        let requests = 0;
        const participant: Participant = {
          name: `m${m}/p${i} ${transport}`,
          transport,
          received: [],
          trail,
          pending,
          lastRequest: 'none',
          token,
          network: 'up',
          away: false,
          client: undefined as unknown as MeetstreamClient,
        };
        const tracked: typeof fetch = async (input, init) => {
          const url = new URL(String(input));
          const what = `${url.pathname.split('/').pop()}${url.search}`;
          if (participant.network === 'down') throw new TypeError(`network down (${what})`);
          const id = ++requests;
          const lost = participant.network === 'black-hole';
          pending.set(id, `${what} since ${since()}${lost ? ' (black hole)' : ''}`);
          participant.lastRequest = `#${id} ${what} at ${since()}`;
          try {
            if (lost) return await never(init?.signal, what);
            const res = await fetch(input, init);
            if (!res.body || url.pathname.endsWith('/stream')) return res;
            // A black hole that opens while the body is on its way stalls the body too.
            const reader = res.body.getReader();
            const body = new ReadableStream<Uint8Array>({
              async pull(controller) {
                if (participant.network === 'black-hole') await never(init?.signal, what);
                const { value, done } = await reader.read();
                if (done) controller.close();
                else controller.enqueue(value);
              },
              cancel: (reason) => reader.cancel(reason),
            });
            return new Response(body, {
              status: res.status,
              statusText: res.statusText,
              headers: res.headers,
            });
          } finally {
            pending.delete(id);
          }
        };
        const client = new MeetstreamClient({
          baseUrl: stack.apiUrl,
          meetingId: room.meeting.meetingId,
          token,
          transport,
          fetch: tracked,
          pageSize: PAGE_SIZE,
          webPubSub: {
            ...testClientOptions,
            reconnectRetryOptions: { retryDelayInMs: 300, maxRetryDelayInMs: 300 },
          },
          longPollSeconds: 5,
          syncIntervalMs: 5000,
          // Shorter than the default 20 s, so a request lost in a black hole costs the test less.
          requestTimeoutMs: 8000,
        });
        client.onEnvelope((e) => participant.received.push(e));
        client.onGap((g) => gaps[g.reason]++);
        client.onError((e) => {
          note(`error ${e.message}`);
          if (/: 429 /.test(e.message)) errorsSeen.rateLimited++;
          if (/timed out|not complete/.test(e.message)) errorsSeen.timedOut++;
        });
        client.onStatus((st) => note(`status ${st}`));
        participant.client = client;
        return participant;
      });
    }
    await Promise.all(rooms.flatMap((r) => r.participants.map((p) => p.client.start())));
    phase('started');

    // ---- concurrent posters: every meeting, several participants, retried through outages ----
    let apiUrl = stack.apiUrl;
    const post = async (
      room: Room,
      token: string,
      events: Array<{ id: string; type: string; data: object }>,
    ) => {
      while (!over) {
        try {
          const res = await fetch(`${apiUrl}/meetings/${room.meeting.meetingId}/events`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ events }),
          });
          await res.text();
          if (res.status === 202) return;
          if (res.status < 500 && res.status !== 429) throw new Error(`post refused: ${res.status}`);
        } catch (err) {
          if (err instanceof Error && err.message.startsWith('post refused')) throw err;
          // runner down: retry the same ids (idempotent)
        }
        await sleep(100);
      }
    };
    const posters = rooms.map(async (room, m) => {
      for (let i = 0; i < EVENTS_PER_MEETING && !over;) {
        const n = Math.min(1 + Math.floor(random() * 3), EVENTS_PER_MEETING - i);
        const events = Array.from({ length: n }, (_, k) => ({
          id: `m${m}-e${i + k}`,
          type: 'chat.message',
          data: { text: `meeting ${m} event ${i + k}` },
        }));
        i += n;
        await post(room, pick(room.tokens), events);
        room.posted.push(...events.map((e) => e.id));
        await sleep(100 + random() * 200);
      }
    });

    // ---- chaos, while the posters run ----
    const hub = () =>
      new WebPubSubServiceClient(stack.env.WebPubSubConnectionString!, 'meetstream', {
        allowInsecureConnection: true,
      });
    const endSession = async (p: Participant) => {
      const id = p.client.connectionId;
      dropSocket(p.client);
      if (id)
        await hub()
          .closeConnection(id)
          .catch(() => undefined);
    };
    const counts = {
      shortDrops: 0,
      sessionLosses: 0,
      outages: 0,
      reopened: 0,
      hubRestarts: 0,
      runnerRestarts: 0,
    };
    const everyone = rooms.flatMap((r) => r.participants);
    const onWebSocket = everyone.filter((p) => p.transport === 'websocket');
    /** Runs `work` for a participant that is not already away, in the background. */
    const away = (p: Participant, work: () => Promise<void>) => {
      p.away = true;
      background.push(
        work()
          .catch((err: unknown) => p.trail.push(`${since()} chaos step failed: ${String(err)}`))
          .finally(() => (p.away = false)),
      );
    };
    const chaos = async () => {
      for (let step = 0; step < CHAOS_STEPS && !over; step++) {
        await sleep(250 + random() * 250);
        const roll = random();
        const victim = roll < 0.6 ? pick(onWebSocket) : pick(everyone);
        if (victim.away) {
          // already in an outage or restarting: this step hits no one
        } else if (roll < 0.35) {
          dropSocket(victim.client); // < 1 s: the reliable session resumes
          counts.shortDrops++;
        } else if (roll < 0.6) {
          await endSession(victim); // the session is gone for good: a fresh connection
          counts.sessionLosses++;
        } else if (roll < 0.85) {
          counts.outages++;
          const outageMs = 3000 + random() * 2000;
          const how = random() < 0.5 ? 'down' : 'black-hole';
          away(victim, async () => {
            victim.network = how;
            await endSession(victim);
            await sleep(outageMs);
            victim.network = 'up';
          });
        } else {
          counts.reopened++;
          away(victim, async () => {
            await victim.client.stop();
            await sleep(1500);
            if (!over) await victim.client.start();
          });
        }
        if (step === 8) {
          await stack.webPubSub!.kill();
          await sleep(500);
          await stack.startWebPubSub();
          counts.hubRestarts++;
        }
        if (step === 16) {
          await stack.runner.kill();
          await sleep(300);
          await stack.startRunner();
          apiUrl = stack.apiUrl;
          counts.runnerRestarts++;
        }
      }
    };
    await Promise.all([...posters, chaos()]);
    await Promise.all(background);
    phase('chaos over');

    // ---- settle: every posted event is in its meeting's log, and every client holds that log ----
    // Presence changes (clients that went away and came back) may still be appended meanwhile, so
    // the logs are read again each round until clients and logs agree.
    const logs = new Map<string, Envelope[]>();
    const settled = (p: Participant, log: Envelope[]) =>
      p.received.length === log.length && p.client.lastSeq === log.length && !difference(p.received, log);
    const deadline = Date.now() + SETTLE_MS;
    for (;;) {
      for (const room of rooms)
        logs.set(room.meeting.meetingId, await storedLog(stack, room.meeting.meetingId));
      const complete = rooms.every((room) => {
        const log = logs.get(room.meeting.meetingId)!;
        const ids = new Set(log.flatMap((e) => (e.kind === 'event' ? [e.id] : [])));
        return room.posted.every((id) => ids.has(id)) && room.participants.every((p) => settled(p, log));
      });
      if (complete || Date.now() > deadline) break;
      await sleep(250);
    }
    phase('settled');

    // ---- every client of a meeting holds exactly its log; if not, what differs for each client ----
    const problems: string[] = [];
    for (const room of rooms) {
      const log = logs.get(room.meeting.meetingId)!;
      const end = log[log.length - 1]?.seq ?? 0;
      // The log itself: gapless from 1, each posted event exactly once.
      if (log.some((e, i) => e.seq !== i + 1))
        problems.push(`meeting ${room.meeting.meetingId}: its log has a gap`);
      const chatIds = log.flatMap((e) => (e.kind === 'event' && e.type === 'chat.message' ? [e.id] : []));
      expect([...chatIds].sort()).toEqual([...room.posted].sort());
      for (const p of room.participants) {
        const diff = difference(p.received, log);
        if (!diff) continue;
        const inside = p.client as unknown as { held?: Map<number, unknown>; catchUpRun?: unknown };
        // What the API answers this participant now: tells a client that stopped asking from a
        // read that does not return what the log holds.
        const read = await api<{ items: Envelope[] }>(
          stack,
          'GET',
          `/meetings/${room.meeting.meetingId}/events?after=${p.client.lastSeq}&limit=${PAGE_SIZE}`,
          { token: p.token },
        );
        const answered = `${read.status} ${read.body.items?.map((e) => e.seq).join(',') ?? ''}`;
        problems.push(
          `${p.name} (${p.client.status}) lastSeq ${p.client.lastSeq} vs log end ${end}: ${diff}; ` +
            `held back ${inside.held?.size ?? '?'}; catch-up running ${!!inside.catchUpRun}; ` +
            `pending [${[...p.pending.values()].join(', ')}]; last request ${p.lastRequest}; ` +
            `the API now answers ${answered}; recent: ${p.trail.join(' | ')}`,
        );
      }
    }
    if (problems.length > 0) {
      throw new Error(
        `${problems.length} clients differ from their meeting's log (seed ${SEED}; ${phases.join(', ')}):\n` +
          problems.join('\n'),
      );
    }

    // SSE and long-poll clients hold the very same sequence as the WebSocket clients of their meeting.
    for (const room of rooms) {
      const [reference] = room.participants.filter((p) => p.transport === 'websocket');
      for (const p of room.participants.filter((q) => q.transport !== 'websocket'))
        expect(p.received).toEqual(reference!.received);
    }

    // A token of one meeting still cannot read another's log, stream or long-poll.
    const [a, b] = rooms;
    for (const route of ['events?after=0', 'events?after=0&wait=1', 'events/stream']) {
      const res = await api<EventsPage>(stack, 'GET', `/meetings/${b!.meeting.meetingId}/${route}`, {
        token: a!.tokens[3],
      });
      expect(res.status).toBe(403);
    }

    // The chaos did force recoveries from the log (fresh connections after lost sessions/restarts).
    expect(gaps.reconnect).toBeGreaterThan(0);
    expect(gaps.expired).toBe(0);
    expect(counts.outages + counts.reopened).toBeGreaterThan(0);
    expect([counts.hubRestarts, counts.runnerRestarts]).toEqual([1, 1]);
    const envelopes = [...logs.values()].reduce((n, log) => n + log.length, 0);
    console.log(
      `chaos (seed ${SEED}): ${MEETINGS} meetings × ${CLIENTS_PER_MEETING} clients, ` +
        `${MEETINGS * EVENTS_PER_MEETING} events posted, ${envelopes} envelopes in the logs, each checked on all ${CLIENTS_PER_MEETING} clients of its meeting; ` +
        `gaps filled from the log: ${gaps.reconnect} after fresh connections, ${gaps.push} in pushes; ` +
        `${counts.shortDrops} short drops, ${counts.sessionLosses} lost sessions, ${counts.outages} long outages, ` +
        `${counts.reopened} clients reopened, ${counts.hubRestarts} hub restart, ${counts.runnerRestarts} runner restart; ` +
        `${errorsSeen.rateLimited} requests rate-limited, ${errorsSeen.timedOut} timed out; ` +
        phases.join(', '),
    );
  }, 120_000);
});
