/**
 * Chaos: 5 meetings × 10 typed clients (WebSocket, SSE and long-poll) while events are posted
 * concurrently, clients lose their connection for a moment (the reliable session resumes) or for
 * good (the hub ends the session: what an outage longer than the recovery window amounts to),
 * some clients go offline and come back, the hub restarts once and the runner restarts once.
 * At the end every client of a meeting holds exactly the meeting's log: no gap, no duplicate, no
 * reordering, whatever its transport.
 */
import { CosmosClient } from '@azure/cosmos';
import { WebPubSubServiceClient } from '@azure/web-pubsub';
import { MeetstreamClient, type Transport } from '../../client';
import type { Envelope, EventsPage, PageDocument } from '../../lib/protocol';
import {
  api,
  createMeeting,
  join,
  sleep,
  startTestStack,
  testClientOptions,
  waitUntil,
  type CreatedMeeting,
  type TestStack,
} from '../support/stack';

const MEETINGS = 5;
const CLIENTS_PER_MEETING = 10;
const EVENTS_PER_MEETING = 60;
const SEED = Number(process.env.CHAOS_SEED ?? 20261121);

/** Small deterministic PRNG, so a failing run can be replayed with CHAOS_SEED. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Participant {
  client: MeetstreamClient;
  transport: Transport;
  received: Envelope[];
  /** Recent errors and status changes, for the failure message. */
  trail: string[];
}

interface Room {
  meeting: CreatedMeeting;
  tokens: string[];
  participants: Participant[];
  posted: string[];
}

async function storedLog(stack: TestStack, meetingId: string): Promise<Envelope[]> {
  const client = new CosmosClient(stack.env.CosmosDBConnection!);
  try {
    const { resources } = await client
      .database('meetstream')
      .container('meetings')
      .items.query<PageDocument>(
        { query: "SELECT * FROM c WHERE c.type = 'page' ORDER BY c.firstSeq", parameters: [] },
        { partitionKey: meetingId },
      )
      .fetchAll();
    return resources.flatMap((p) => p.envelopes);
  } finally {
    client.dispose();
  }
}

/** Cuts the client's socket without a close handshake, as a network failure would. */
function dropSocket(client: MeetstreamClient): void {
  // The Web PubSub client keeps its socket private; reaching it is a test-only shortcut.
  const ws = (
    client.webPubSubClient as unknown as { _wsClient?: { _socket?: { terminate(): void } } } | undefined
  )?._wsClient;
  ws?._socket?.terminate();
}

describe('chaos', () => {
  let stack: TestStack;
  const rooms: Room[] = [];
  /** Set when the suite ends, so retry loops of a failed run stop too. */
  let over = false;

  beforeAll(async () => {
    stack = await startTestStack({ PRESENCE_GRACE_MS: '3000' });
  });

  afterAll(async () => {
    over = true;
    await Promise.all(rooms.flatMap((r) => r.participants.map((p) => p.client.stop())));
    await stack?.cleanup();
  });

  test('every client of every meeting ends with exactly the meeting log through drops, outages and restarts', async () => {
    const started = Date.now();
    const gaps = { push: 0, reconnect: 0, expired: 0 };
    const random = mulberry32(SEED);
    const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)]!;

    // ---- 5 meetings × 10 participants, each with a typed client ----
    for (let m = 0; m < MEETINGS; m++) {
      const meeting = await createMeeting(stack, `chaos ${m}`);
      const tokens = [meeting.hostToken];
      for (let p = 1; p < CLIENTS_PER_MEETING; p++)
        tokens.push((await join(stack, meeting, `P${m}.${p}`)).token);
      rooms.push({ meeting, tokens, participants: [], posted: [] });
    }
    for (const room of rooms) {
      room.participants = room.tokens.map((token, i) => {
        // Per meeting: 8 on WebSocket, one on SSE, one on long-poll.
        const transport: Transport = i === 8 ? 'sse' : i === 9 ? 'long-poll' : 'websocket';
        const client = new MeetstreamClient({
          baseUrl: stack.apiUrl,
          meetingId: room.meeting.meetingId,
          token,
          transport,
          webPubSub: {
            ...testClientOptions,
            reconnectRetryOptions: { retryDelayInMs: 300, maxRetryDelayInMs: 300 },
          },
          longPollSeconds: 5,
          syncIntervalMs: 5000,
        });
        const received: Envelope[] = [];
        client.onEnvelope((e) => received.push(e));
        client.onGap((g) => gaps[g.reason]++);
        const trail: string[] = [];
        const note = (what: string) => trail.push(`${Date.now() - started}ms ${what}`) > 8 && trail.shift();
        client.onError((e) => note(`error ${e.message}`));
        client.onStatus((st) => note(`status ${st}`));
        return { client, transport, received, trail };
      });
    }
    await Promise.all(rooms.flatMap((r) => r.participants.map((p) => p.client.start())));

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
    const counts = { shortDrops: 0, sessionLosses: 0, offline: 0, hubRestarts: 0, runnerRestarts: 0 };
    const wsClients = rooms.flatMap((r) => r.participants.filter((p) => p.transport === 'websocket'));
    const away = new Set<Participant>();
    const comebacks: Array<Promise<void>> = [];
    const chaos = async () => {
      for (let step = 0; step < 24 && !over; step++) {
        await sleep(250 + random() * 250);
        const victim = pick(wsClients);
        const roll = random();
        if (roll < 0.4) {
          dropSocket(victim.client); // < 1 s: the reliable session resumes
          counts.shortDrops++;
        } else if (roll < 0.75) {
          const id = victim.client.connectionId;
          dropSocket(victim.client);
          if (id)
            await hub()
              .closeConnection(id)
              .catch(() => undefined); // the session is gone for good
          counts.sessionLosses++;
        } else {
          // A participant (any transport) is offline for a while and resumes from its lastSeq.
          const offline = pick(pick(rooms).participants);
          if (away.has(offline)) continue;
          away.add(offline);
          counts.offline++;
          comebacks.push(
            (async () => {
              await offline.client.stop();
              await sleep(1500);
              await offline.client.start();
              away.delete(offline);
            })(),
          );
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
    await Promise.all(comebacks);

    // ---- settle: every posted event is in its meeting's log, and every client has the log ----
    const logs = new Map<string, Envelope[]>();
    for (const room of rooms) {
      await waitUntil(async () => {
        const log = await storedLog(stack, room.meeting.meetingId);
        logs.set(room.meeting.meetingId, log);
        const ids = new Set(log.flatMap((e) => (e.kind === 'event' ? [e.id] : [])));
        return room.posted.every((id) => ids.has(id));
      }, 30_000);
    }
    for (const room of rooms) {
      const log = logs.get(room.meeting.meetingId)!;
      const last = log[log.length - 1]!.seq;
      await waitUntil(() => room.participants.every((p) => p.client.lastSeq >= last), 30_000).catch(() => {
        const behind = room.participants.filter((p) => p.client.lastSeq < last);
        throw new Error(
          `clients behind seq ${last}:\n` +
            behind
              .map((p) => `${p.transport} ${p.client.status} at ${p.client.lastSeq}: ${p.trail.join(' | ')}`)
              .join('\n'),
        );
      });
    }

    for (const room of rooms) {
      const log = logs.get(room.meeting.meetingId)!;
      // The log itself: gapless from 1, each posted event exactly once, in posting order per batch.
      expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
      const chatIds = log.flatMap((e) => (e.kind === 'event' && e.type === 'chat.message' ? [e.id] : []));
      expect([...chatIds].sort()).toEqual([...room.posted].sort());
      for (const p of room.participants) {
        // What each client delivered: exactly 1, 2, 3, … and the log's envelopes themselves.
        expect(p.received.map((e) => e.seq)).toEqual(p.received.map((_, i) => i + 1));
        expect(p.received.slice(0, log.length)).toEqual(log);
      }
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
    const envelopes = [...logs.values()].reduce((n, log) => n + log.length, 0);
    console.log(
      `chaos (seed ${SEED}): ${MEETINGS} meetings × ${CLIENTS_PER_MEETING} clients, ` +
        `${MEETINGS * EVENTS_PER_MEETING} events posted, ${envelopes} envelopes in the logs, each checked on all ${CLIENTS_PER_MEETING} clients of its meeting; ` +
        `gaps filled from the log: ${gaps.reconnect} after fresh connections, ${gaps.push} in pushes; ` +
        `${counts.shortDrops} short drops, ${counts.sessionLosses} lost sessions, ${counts.offline} offline periods, ` +
        `${counts.hubRestarts} hub restart, ${counts.runnerRestarts} runner restart; ${Date.now() - started} ms`,
    );
  }, 120_000);
});
