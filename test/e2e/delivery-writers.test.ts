/**
 * Design (b) under contention, on the real embedded Cosmos DB: while the runner's change-feed
 * function processes a meeting, a second processor (a stale lease owner, as during a lease
 * takeover) reads the same change feed in its own random batches, redelivers some of them and
 * commits and pushes too. The etag-guarded transactional commit must keep the log gapless with
 * every event exactly once, and clients must end with exactly that log.
 */
import { ChangeFeedStartFrom, CosmosClient } from '@azure/cosmos';
import { MeetstreamClient } from '../../client';
import { CosmosStateStore, StaleStateError } from '../../lib/adapters/cosmos';
import { WebPubSubGateway } from '../../lib/adapters/webPubSub';
import { readConfig } from '../../lib/config';
import { MeetingProcessor, type ProcessorState } from '../../lib/processing/processor';
import type { Envelope } from '../../lib/protocol';
import {
  api,
  createMeeting,
  sleep,
  startTestStack,
  testClientOptions,
  waitUntil,
  type TestStack,
  storedLog,
} from '../support/stack';

describe('concurrent writers of one meeting', () => {
  let stack: TestStack;
  let cosmos: CosmosClient;
  const clients: MeetstreamClient[] = [];

  beforeAll(async () => {
    stack = await startTestStack();
    cosmos = new CosmosClient(stack.env.CosmosDBConnection!);
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    cosmos?.dispose();
    await stack?.cleanup();
  });

  test('a second processor racing the runner with redelivered batches leaves one gapless log that clients match', async () => {
    const meeting = await createMeeting(stack, 'contended');
    const db = cosmos.database('meetstream');
    // Counts the commits the rival lost to the runner (etag mismatch): proof the race happened.
    let lostCommits = 0;
    class CountingStore extends CosmosStateStore<ProcessorState> {
      override async commit(
        ...args: Parameters<CosmosStateStore<ProcessorState>['commit']>
      ): Promise<string> {
        try {
          return await super.commit(...args);
        } catch (err) {
          if (err instanceof StaleStateError) lostCommits++;
          throw err;
        }
      }
    }
    const rival = new MeetingProcessor({
      store: new CountingStore(db.container('meetings')),
      publisher: new WebPubSubGateway(readConfig({ ...process.env, ...stack.env })),
      clock: Date.now,
      retentionSeconds: 86_400,
      log: () => undefined,
    });

    const watchers = (['websocket', 'long-poll'] as const).map((transport) => {
      const client = new MeetstreamClient({
        baseUrl: stack.apiUrl,
        meetingId: meeting.meetingId,
        token: meeting.hostToken,
        transport,
        webPubSub: testClientOptions,
        longPollSeconds: 5,
      });
      clients.push(client);
      const received: Envelope[] = [];
      client.onEnvelope((e) => received.push(e));
      return { client, received };
    });
    await Promise.all(watchers.map((w) => w.client.start()));

    let posting = true;
    const ids: string[] = [];
    const poster = (async () => {
      for (let i = 0; i < 120; i += 4) {
        const events = [0, 1, 2, 3].map((k) => ({
          id: `w-${i + k}`,
          type: 'chat.message',
          data: { text: `${i + k}` },
        }));
        const res = await api(stack, 'POST', `/meetings/${meeting.meetingId}/events`, {
          token: meeting.hostToken,
          body: { events },
        });
        expect(res.status).toBe(202);
        ids.push(...events.map((e) => e.id));
        await sleep(15);
      }
      posting = false;
    })();

    // The rival reads the meeting's change feed in small batches, sometimes delivering a batch
    // twice and sometimes re-reading from an older position, racing the runner's processor.
    // Like the trigger's retry policy: a batch that lost too many commit races is delivered again.
    const deliver = async (docs: Array<Record<string, unknown>>) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await rival.processBatch(docs);
        } catch (err) {
          if (attempt >= 20) throw err;
          await sleep(10 * attempt);
        }
      }
    };
    let batches = 0;
    let redelivered = 0;
    const rivalRun = (async () => {
      const events = db.container('events');
      let continuation: string | undefined;
      let previous: string | undefined;
      for (let idle = 0; posting || idle < 3;) {
        const iterator = events.items.getChangeFeedIterator<Record<string, unknown>>({
          changeFeedStartFrom: continuation
            ? ChangeFeedStartFrom.Continuation(continuation)
            : ChangeFeedStartFrom.Beginning(meeting.meetingId),
          maxItemCount: 1 + (batches % 7),
        });
        const page = await iterator.readNext();
        if (page.result.length === 0) {
          idle++;
          await sleep(20);
          continue;
        }
        idle = 0;
        batches++;
        await deliver(page.result);
        if (batches % 3 === 0) {
          await deliver(page.result);
          redelivered++;
        }
        // Now and then step back one batch, as an owner resuming from an older checkpoint does.
        const next = page.continuationToken;
        if (batches % 5 === 0 && previous) continuation = previous;
        else {
          previous = continuation;
          continuation = next;
        }
      }
    })();
    await Promise.all([poster, rivalRun]);

    const pages = () => storedLog(stack, meeting.meetingId);
    let log: Envelope[] = [];
    await waitUntil(async () => {
      log = await pages();
      return log.filter((e) => e.kind === 'event' && e.type === 'chat.message').length >= ids.length;
    }, 20_000);

    expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
    const chats = log.flatMap((e) => (e.kind === 'event' && e.type === 'chat.message' ? [e.id] : []));
    expect(chats).toEqual(ids);
    const last = log[log.length - 1]!.seq;
    await waitUntil(() => watchers.every((w) => w.client.lastSeq >= last), 20_000);
    for (const w of watchers) expect(w.received.slice(0, log.length)).toEqual(log);
    expect(batches).toBeGreaterThan(10);
    expect(redelivered).toBeGreaterThan(3);
    expect(lostCommits).toBeGreaterThan(0);
  });

  test('a batch that keeps failing for a permanent reason is parked durably, shown by health and the ops view, and later events go on', async () => {
    const meeting = await createMeeting(stack, 'parking');
    const posted = await api(stack, 'POST', `/meetings/${meeting.meetingId}/events`, {
      token: meeting.hostToken,
      body: { events: [{ id: 'park-1', type: 'chat.message', data: { text: 'stuck' } }] },
    });
    expect(posted.status).toBe(202);
    // The event document as the change feed delivers it (with its real _lsn).
    const feed = cosmos
      .database('meetstream')
      .container('events')
      .items.getChangeFeedIterator<Record<string, unknown>>({
        changeFeedStartFrom: ChangeFeedStartFrom.Beginning(meeting.meetingId),
      });
    let doc: Record<string, unknown> | undefined;
    await waitUntil(async () => {
      const page = await feed.readNext();
      doc ??= page.result.find((d) => d.id === 'park-1');
      return doc !== undefined;
    });
    // A store that refuses this meeting's commit for good (as Cosmos DB refuses a 2 MB+ batch);
    // it reads no state, so the runner having processed the event already does not matter.
    class RefusingStore extends CosmosStateStore<ProcessorState> {
      override async load(): Promise<undefined> {
        return undefined;
      }
      override async commit(): Promise<string> {
        throw Object.assign(new Error('state commit failed with 413'), { code: 413 });
      }
    }
    const processor = new MeetingProcessor({
      store: new RefusingStore(cosmos.database('meetstream').container('meetings')),
      publisher: new WebPubSubGateway(readConfig({ ...process.env, ...stack.env })),
      clock: Date.now,
      retentionSeconds: 86_400,
      log: () => undefined,
    });
    await expect(processor.processBatch([doc], { retryCount: 0 })).rejects.toThrow('413');
    const report = await processor.processBatch([doc], { retryCount: 3 });
    expect(report.parked).toBe(1);

    const health = await api<{ processing: { parkedBatches: number } }>(stack, 'GET', '/health');
    expect(health.body.processing.parkedBatches).toBeGreaterThanOrEqual(1);
    const ops = await api<{ parked: Array<{ eventIds: string[]; reason: string; firstLsn: number }> }>(
      stack,
      'POST',
      `/ops/meetings/${meeting.meetingId}/rebuild`,
    );
    expect(ops.body.parked).toEqual([
      expect.objectContaining({
        eventIds: ['park-1'],
        reason: 'state commit failed with 413',
        firstLsn: doc!._lsn,
      }),
    ]);
  });
});
