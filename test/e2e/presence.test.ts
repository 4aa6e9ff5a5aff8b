/**
 * Presence on the real local stack: the embedded Web PubSub posts connected/disconnected
 * CloudEvents to the app's upstream function; a participant whose connections all drop is marked
 * away after the grace period and back when they reconnect, through the event log like any event.
 */
import { createHmac } from 'node:crypto';
import { CosmosClient } from '@azure/cosmos';
import { WebPubSubClient } from '@azure/web-pubsub-client';
import { MeetstreamClient } from '../../client';
import { parseConnectionString } from '../../lib/config';
import type { Envelope, EventsPage, PresenceDocument } from '../../lib/protocol';
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

const GRACE_MS = 800;

describe('presence from Web PubSub connection events', () => {
  let stack: TestStack;
  const clients: MeetstreamClient[] = [];

  beforeAll(async () => {
    stack = await startTestStack({
      PRESENCE_GRACE_MS: String(GRACE_MS),
      PRESENCE_SWEEP_SCHEDULE: '*/1 * * * * *',
    });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await stack?.cleanup();
  });

  const connect = async (meeting: CreatedMeeting, token: string) => {
    const client = new MeetstreamClient({
      baseUrl: stack.apiUrl,
      meetingId: meeting.meetingId,
      token,
      transport: 'websocket',
      webPubSub: testClientOptions,
    });
    clients.push(client);
    await client.start();
    return client;
  };

  /** participant.away / participant.back events about `participantId`, from the log. */
  const presenceEvents = async (meeting: CreatedMeeting, participantId: string): Promise<Envelope[]> => {
    const res = await api<EventsPage>(
      stack,
      'GET',
      `/meetings/${meeting.meetingId}/events?after=0&limit=1000`,
      {
        token: meeting.hostToken,
      },
    );
    // Polling faster than the host's request budget (RATE_LIMIT_REQUESTS_*) earns a 429.
    expect(res.status).toBe(200);
    return res.body.items.filter(
      (e) =>
        (e.kind === 'event' && e.type.startsWith('participant.') && e.data.participantId === participantId) ||
        (e.kind === 'state' &&
          e.type === 'roster' &&
          (e.data as { participant?: { participantId?: string } }).participant?.participantId ===
            participantId),
    );
  };

  const kinds = (envelopes: Envelope[]) =>
    envelopes.map((e) =>
      e.kind === 'event'
        ? e.type
        : `roster:${(e.data as { change: string }).change}:${String((e.data as { participant: { connected?: boolean } }).participant.connected)}`,
    );

  async function presenceDoc(
    meetingId: string,
    participantId: string,
  ): Promise<PresenceDocument | undefined> {
    const client = new CosmosClient(stack.env.CosmosDBConnection!);
    try {
      const { resource } = await client
        .database('meetstream')
        .container('meetings')
        .item(`presence.${participantId}`, meetingId)
        .read<PresenceDocument>();
      return resource;
    } finally {
      client.dispose();
    }
  }

  test('a participant whose connections all drop is marked away after the grace period, and back on reconnect', async () => {
    const meeting = await createMeeting(stack, 'presence');
    const ann = await join(stack, meeting, 'Ann');
    const client = await connect(meeting, ann.token);
    await waitUntil(
      async () => (await presenceDoc(meeting.meetingId, ann.participantId))?.connections.length === 1,
    );

    const left = Date.now();
    await client.stop();
    await waitUntil(
      async () =>
        (await presenceEvents(meeting, ann.participantId)).some((e) => e.type === 'participant.away'),
      15_000,
      250, // the log is read with the host's token: stay within its request budget
    );
    expect(Date.now() - left).toBeGreaterThanOrEqual(GRACE_MS);

    await client.start();
    await waitUntil(
      async () =>
        (await presenceEvents(meeting, ann.participantId)).some((e) => e.type === 'participant.back'),
      15_000,
      250, // the log is read with the host's token: stay within its request budget
    );
    expect(kinds(await presenceEvents(meeting, ann.participantId))).toEqual([
      'participant.joined',
      'roster:joined:true',
      'participant.away',
      'roster:away:false',
      'participant.back',
      'roster:back:true',
    ]);
    // The client itself sees its own presence change in the roster it receives.
    const seen: boolean[] = [];
    client.onRoster((d) => {
      if (d.participant.participantId === ann.participantId && d.participant.connected !== undefined)
        seen.push(d.participant.connected);
    });
    await client.stop();
    await waitUntil(
      async () =>
        (await presenceEvents(meeting, ann.participantId)).filter((e) => e.type === 'participant.away')
          .length === 2,
      15_000,
      250, // the log is read with the host's token: stay within its request budget
    );
    await client.start();
    await waitUntil(() => seen.length >= 2, 15_000);
    expect(seen.slice(0, 2)).toEqual([false, true]);
  });

  test('a recovered network drop, a quick reconnect or a second open tab does not mark anyone away', async () => {
    const meeting = await createMeeting(stack, 'no false alarms');
    const bob = await join(stack, meeting, 'Bob');
    const tab1 = await connect(meeting, bob.token);
    const tab2 = await connect(meeting, bob.token);
    await waitUntil(
      async () => (await presenceDoc(meeting.meetingId, bob.participantId))?.connections.length === 2,
    );

    // The socket drops and the reliable session resumes: the hub reports nothing.
    const ws = (tab1.webPubSubClient as unknown as { _wsClient?: { _socket?: { terminate(): void } } })
      ._wsClient;
    ws?._socket?.terminate();
    // One tab closes while the other stays.
    await tab2.stop();
    // Both tabs close, and one comes back within the grace period.
    await tab1.stop();
    await sleep(GRACE_MS / 4);
    await tab1.start();
    await sleep(GRACE_MS * 3);
    expect(kinds(await presenceEvents(meeting, bob.participantId))).toEqual([
      'participant.joined',
      'roster:joined:true',
    ]);
    const doc = await presenceDoc(meeting.meetingId, bob.participantId);
    expect(doc).toMatchObject({ away: false, transitions: 0 });
  });

  test('a grace period whose runner died is finished by the sweep after the restart', async () => {
    const meeting = await createMeeting(stack, 'sweep');
    const cy = await join(stack, meeting, 'Cy');
    const client = await connect(meeting, cy.token);
    await waitUntil(
      async () => (await presenceDoc(meeting.meetingId, cy.participantId))?.connections.length === 1,
    );
    await client.stop();
    await waitUntil(
      async () => (await presenceDoc(meeting.meetingId, cy.participantId))?.connections.length === 0,
    );
    await stack.runner.kill();
    await stack.startRunner();
    await waitUntil(
      async () =>
        (await presenceEvents(meeting, cy.participantId)).some((e) => e.type === 'participant.away'),
      20_000,
      250, // the log is read with the host's token: stay within its request budget
    );
    expect((await presenceDoc(meeting.meetingId, cy.participantId))?.pending).toBeUndefined();
  });

  test('a client URL edited to name another meeting, or none, is refused at connect', async () => {
    const mine = await createMeeting(stack, 'Mine');
    const other = await createMeeting(stack, 'Other');
    const neg = await api<{ url: string }>(stack, 'POST', `/meetings/${mine.meetingId}/negotiate`, {
      token: mine.hostToken,
    });
    expect(neg.status).toBe(200);
    const url = new URL(neg.body.url);
    expect(url.searchParams.get('meeting')).toBe(mine.meetingId);
    const tryConnect = async (edit: (u: URL) => void) => {
      const edited = new URL(url);
      edit(edited);
      const client = new WebPubSubClient(edited.toString(), { ...testClientOptions, autoReconnect: false });
      try {
        await client.start();
        return 'connected';
      } catch {
        return 'refused';
      } finally {
        client.stop();
      }
    };
    expect(await tryConnect((u) => u.searchParams.set('meeting', other.meetingId))).toBe('refused');
    expect(await tryConnect((u) => u.searchParams.delete('meeting'))).toBe('refused');
    expect(await tryConnect(() => undefined)).toBe('connected');
    // The connect answer's state names the meeting, so presence needs no lookup by participant.
    await waitUntil(async () => (await presenceDoc(mine.meetingId, mine.hostId)) !== undefined, 5000);
  });

  describe('the upstream endpoint', () => {
    const url = () => `${stack.apiUrl}/webpubsub/events`;
    const parts = () => parseConnectionString(stack.env.WebPubSubConnectionString!);
    const sign = (connectionId: string, key = parts().AccessKey!) =>
      'sha256=' + createHmac('sha256', key).update(connectionId).digest('hex');
    const post = (headers: Record<string, string>) =>
      fetch(url(), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: '{}',
      });
    const cloudEvent = (type: string, connectionId: string, signature: string) => ({
      'ce-specversion': '1.0',
      'ce-type': type,
      'ce-hub': 'meetstream',
      'ce-connectionId': connectionId,
      'ce-userId': 'nobody',
      'ce-signature': signature,
    });

    test('answers the abuse-protection handshake for the hub it belongs to, and only that one', async () => {
      const origin = new URL(parts().Endpoint!).host;
      const ok = await fetch(url(), { method: 'OPTIONS', headers: { 'webhook-request-origin': origin } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('webhook-allowed-origin')).toBe(origin);
      const other = await fetch(url(), {
        method: 'OPTIONS',
        headers: { 'webhook-request-origin': 'evil.example' },
      });
      expect(other.status).toBe(400);
      const missing = await fetch(url(), { method: 'OPTIONS' });
      expect(missing.status).toBe(400);
    });

    test('refuses events whose ce-signature was not made with the access key', async () => {
      const forged = await post(cloudEvent('azure.webpubsub.sys.connected', 'c1', sign('c1', 'not-the-key')));
      expect(forged.status).toBe(401);
      const otherConnection = await post(cloudEvent('azure.webpubsub.sys.connected', 'c1', sign('c2')));
      expect(otherConnection.status).toBe(401);
      const unsigned = await post({
        ...cloudEvent('azure.webpubsub.sys.connected', 'c1', ''),
        'ce-signature': '',
      });
      expect(unsigned.status).toBe(401);
      // Several signatures (key rotation): one valid one is enough.
      const rotated = await post(
        cloudEvent('azure.webpubsub.sys.connected', 'c1', `${sign('c1', 'old')},${sign('c1')}`),
      );
      expect(rotated.status).toBe(204);
      const userEvent = await post(cloudEvent('azure.webpubsub.user.message', 'c1', sign('c1')));
      expect(userEvent.status).toBe(400);
    });
  });
});
