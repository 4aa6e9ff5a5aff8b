/**
 * Cosmos DB adapter: the client, the containers (created on start-up when allowed), and the
 * storage operations the HTTP API and the processor need, behind small interfaces so pure
 * logic can be tested with in-memory fakes.
 */
import { CosmosClient, type Container, type JSONObject, type OperationInput } from '@azure/cosmos';
import type { Config } from '../config';
import {
  MEETING_DOC_ID,
  STATE_DOC_ID,
  participantDocId,
  type EventDocument,
  type MeetingDocument,
  type PageDocument,
  type ParticipantDocument,
} from '../protocol';

export interface CosmosContainers {
  client: CosmosClient;
  events: Container;
  meetings: Container;
}

export function createCosmosContainers(config: Config): CosmosContainers {
  const client = new CosmosClient({
    endpoint: config.cosmos.endpoint,
    key: config.cosmos.key,
    connectionPolicy: { requestTimeout: 10_000 },
  });
  const db = client.database(config.cosmos.database);
  return {
    client,
    events: db.container(config.cosmos.eventsContainer),
    meetings: db.container(config.cosmos.meetingsContainer),
  };
}

/** Creates the database and containers if missing (local runs and first deployments). */
export async function ensureCosmosResources(config: Config, client: CosmosClient): Promise<void> {
  const { database } = await client.databases.createIfNotExists({ id: config.cosmos.database });
  await database.containers.createIfNotExists({
    id: config.cosmos.eventsContainer,
    partitionKey: '/meetingId',
  });
  // defaultTtl -1: TTL is on, items live forever unless they carry their own `ttl` (pages do).
  await database.containers.createIfNotExists({
    id: config.cosmos.meetingsContainer,
    partitionKey: '/meetingId',
    defaultTtl: -1,
  });
  await database.containers.createIfNotExists({ id: config.cosmos.leasesContainer, partitionKey: '/id' });
}

/** Documents are plain JSON; the SDK's batch types just cannot see that through our interfaces. */
const json = (doc: object) => doc as unknown as JSONObject;

export const isStatus = (err: unknown, code: number) => (err as { code?: unknown } | null)?.code === code;

// ---------- what the HTTP API needs ----------

export type InsertOutcome = { id: string; status: 'created' | 'duplicate' };

export interface MeetingStore {
  createMeeting(meeting: MeetingDocument, host: ParticipantDocument, events: EventDocument[]): Promise<void>;
  getMeeting(meetingId: string): Promise<MeetingDocument | undefined>;
  getParticipant(meetingId: string, participantId: string): Promise<ParticipantDocument | undefined>;
  addParticipant(participant: ParticipantDocument, joined: EventDocument): Promise<void>;
  /**
   * Stores events of one meeting atomically. Ids already stored with identical content are
   * reported as duplicates (idempotent retries); an id stored with different content throws
   * IdConflictError and stores nothing.
   */
  insertEvents(meetingId: string, events: EventDocument[]): Promise<InsertOutcome[]>;
}

export class IdConflictError extends Error {
  constructor(readonly ids: string[]) {
    super(`event ids already used for different events: ${ids.join(', ')}`);
  }
}

/** Fields that define an event's identity for idempotency (not server timestamps). */
function sameEvent(a: EventDocument, b: EventDocument): boolean {
  return (
    a.eventType === b.eventType &&
    a.participantId === b.participantId &&
    JSON.stringify(a.data) === JSON.stringify(b.data)
  );
}

export class CosmosMeetingStore implements MeetingStore {
  constructor(private readonly c: CosmosContainers) {}

  async createMeeting(
    meeting: MeetingDocument,
    host: ParticipantDocument,
    events: EventDocument[],
  ): Promise<void> {
    await this.batch(this.c.meetings, meeting.meetingId, [
      { operationType: 'Create', resourceBody: json(meeting) },
      { operationType: 'Create', resourceBody: json(host) },
    ]);
    await this.insertEvents(meeting.meetingId, events);
  }

  async getMeeting(meetingId: string): Promise<MeetingDocument | undefined> {
    const { resource } = await this.c.meetings.item(MEETING_DOC_ID, meetingId).read<MeetingDocument>();
    return resource;
  }

  async getParticipant(meetingId: string, participantId: string): Promise<ParticipantDocument | undefined> {
    const { resource } = await this.c.meetings
      .item(participantDocId(participantId), meetingId)
      .read<ParticipantDocument>();
    return resource;
  }

  async addParticipant(participant: ParticipantDocument, joined: EventDocument): Promise<void> {
    await this.c.meetings.items.create(participant);
    await this.insertEvents(participant.meetingId, [joined]);
  }

  async insertEvents(meetingId: string, events: EventDocument[]): Promise<InsertOutcome[]> {
    if (events.length === 0) return [];
    const existing = await this.readExisting(
      meetingId,
      events.map((e) => e.id),
    );
    const conflicts = events
      .filter((e) => existing.has(e.id) && !sameEvent(existing.get(e.id)!, e))
      .map((e) => e.id);
    if (conflicts.length) throw new IdConflictError(conflicts);
    const fresh = events.filter((e) => !existing.has(e.id));
    if (fresh.length === 1) {
      try {
        await this.c.events.items.create(fresh[0]!);
      } catch (err) {
        // Lost a race with a concurrent identical post: answer as the duplicate it is.
        if (!isStatus(err, 409)) throw err;
        return this.insertEvents(meetingId, events);
      }
    } else if (fresh.length > 1) {
      const ok = await this.batch(
        this.c.events,
        meetingId,
        fresh.map((e) => ({ operationType: 'Create' as const, resourceBody: json(e) })),
        true,
      );
      if (!ok) return this.insertEvents(meetingId, events);
    }
    return events.map((e) => ({ id: e.id, status: existing.has(e.id) ? 'duplicate' : 'created' }));
  }

  private async readExisting(meetingId: string, ids: string[]): Promise<Map<string, EventDocument>> {
    const found = new Map<string, EventDocument>();
    if (ids.length === 1) {
      const { resource } = await this.c.events.item(ids[0]!, meetingId).read<EventDocument>();
      if (resource) found.set(resource.id, resource);
      return found;
    }
    const { resources } = await this.c.events.items
      .query<EventDocument>(
        {
          query: 'SELECT * FROM c WHERE ARRAY_CONTAINS(@ids, c.id)',
          parameters: [{ name: '@ids', value: ids }],
        },
        { partitionKey: meetingId },
      )
      .fetchAll();
    for (const r of resources) found.set(r.id, r);
    return found;
  }

  /** A transactional batch; returns false on a 409 when `conflictIsRetryable`, throws otherwise. */
  private async batch(
    container: Container,
    meetingId: string,
    operations: OperationInput[],
    conflictIsRetryable = false,
  ): Promise<boolean> {
    const response = await container.items.batch(operations, meetingId);
    const results = response.result ?? [];
    const failed = results.find((r) => r.statusCode >= 400 && r.statusCode !== 424);
    if (!failed) return true;
    if (failed.statusCode === 409 && conflictIsRetryable) return false;
    throw Object.assign(new Error(`transactional batch failed with ${failed.statusCode}`), {
      code: failed.statusCode,
    });
  }
}

// ---------- what the processor needs ----------

export interface StoredState<S> {
  state: S;
  etag?: string;
}

export interface StateStore<S> {
  load(meetingId: string): Promise<StoredState<S> | undefined>;
  /**
   * Writes the new state and its output pages in one transaction, guarded by the etag the state
   * was loaded with. Returns the new etag; throws StaleStateError when another writer got there first.
   */
  commit(meetingId: string, state: S, etag: string | undefined, pages: PageDocument[]): Promise<string>;
  /** Output pages whose last seq is after `afterSeq`, in seq order. */
  pagesAfter(meetingId: string, afterSeq: number, maxPages: number): Promise<PageDocument[]>;
}

/** Meetings whose analytics may still move with time alone (for the periodic tick). */
export interface ActiveMeetings {
  activeMeetings(quietForMs: number): Promise<string[]>;
}

export class StaleStateError extends Error {
  constructor(meetingId: string) {
    super(`state of meeting ${meetingId} was changed by another writer`);
  }
}

export class CosmosStateStore<S extends object> implements StateStore<S>, ActiveMeetings {
  constructor(
    private readonly meetings: Container,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Live meetings with an event in the last `quietForMs` (cross-partition, so kept cheap and rare). */
  async activeMeetings(quietForMs: number): Promise<string[]> {
    const { resources } = await this.meetings.items
      .query<string>({
        query:
          "SELECT VALUE c.meetingId FROM c WHERE c.type = 'state' AND c.state.model.status = 'live' AND c.state.model.clock > @since",
        parameters: [{ name: '@since', value: this.clock() - quietForMs }],
      })
      .fetchAll();
    return resources;
  }

  async load(meetingId: string): Promise<StoredState<S> | undefined> {
    const { resource, etag } = await this.meetings.item(STATE_DOC_ID, meetingId).read<{ state: S }>();
    return resource ? { state: resource.state, etag } : undefined;
  }

  async commit(
    meetingId: string,
    state: S,
    etag: string | undefined,
    pages: PageDocument[],
  ): Promise<string> {
    const stateDoc = { id: STATE_DOC_ID, type: 'state', schemaVersion: 1, meetingId, state };
    const ops: OperationInput[] = [
      etag
        ? { operationType: 'Replace', id: STATE_DOC_ID, resourceBody: json(stateDoc), ifMatch: etag }
        : { operationType: 'Create', resourceBody: json(stateDoc) },
      ...pages.map((p) => ({ operationType: 'Create' as const, resourceBody: json(p) })),
    ];
    const response = await this.meetings.items.batch(ops, meetingId);
    const results = response.result ?? [];
    const failed = results.find((r) => r.statusCode >= 400 && r.statusCode !== 424);
    if (failed) {
      if (failed.statusCode === 412 || failed.statusCode === 409) throw new StaleStateError(meetingId);
      throw Object.assign(new Error(`state commit failed with ${failed.statusCode}`), {
        code: failed.statusCode,
      });
    }
    const newEtag = results[0]?.eTag;
    if (!newEtag) throw new Error('state commit returned no etag');
    return newEtag;
  }

  async pagesAfter(meetingId: string, afterSeq: number, maxPages: number): Promise<PageDocument[]> {
    const { resources } = await this.meetings.items
      .query<PageDocument>(
        {
          query: "SELECT TOP @n * FROM c WHERE c.type = 'page' AND c.lastSeq > @after ORDER BY c.firstSeq",
          parameters: [
            { name: '@n', value: maxPages },
            { name: '@after', value: afterSeq },
          ],
        },
        { partitionKey: meetingId },
      )
      .fetchAll();
    return resources;
  }
}
