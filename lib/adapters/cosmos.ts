/**
 * Cosmos DB adapter: the client, the containers (created on start-up when allowed), and the
 * storage operations the HTTP API and the processor need, behind small interfaces so pure
 * logic can be tested with in-memory fakes.
 */
import {
  CosmosClient,
  type Container,
  type JSONObject,
  type OperationInput,
  type PatchOperation,
} from '@azure/cosmos';
import type { Config } from '../config';
import { createCredential, type ConnectionOptions } from './identity';
import {
  MEETING_DOC_ID,
  STATE_DOC_ID,
  participantDocId,
  type EventDocument,
  type MeetingDocument,
  type PageDocument,
  type ParkedDocument,
  type ParticipantDocument,
} from '../protocol';

export interface CosmosContainers {
  client: CosmosClient;
  events: Container;
  meetings: Container;
}

export function createCosmosContainers(config: Config, options: ConnectionOptions = {}): CosmosContainers {
  const { identity } = config.cosmos;
  const client = new CosmosClient({
    endpoint: config.cosmos.endpoint,
    // The SDK asks for `<endpoint>/.default` (then https://cosmos.azure.com/.default) and sends
    // `Authorization: type=aad&ver=1.0&sig=<token>`; it refuses to send tokens over plain http.
    ...(identity !== undefined
      ? { aadCredentials: options.credential ?? createCredential(identity) }
      : { key: config.cosmos.key }),
    ...(options.agent !== undefined ? { agent: options.agent } : {}),
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

/**
 * Checks that the database and containers exist as the code needs them. createIfNotExists only
 * reads an existing container (its options are never applied to it), and under an identity
 * nothing is created at all, so a container made by hand or by infrastructure with another
 * partition key or without TTL would otherwise fail later, on first use or silently (pages that
 * never expire). Lists every problem.
 */
export async function verifyCosmosResources(config: Config, client: CosmosClient): Promise<void> {
  const { cosmos } = config;
  const expected = [
    { id: cosmos.eventsContainer, partitionKey: '/meetingId', ttl: undefined },
    // -1 exactly: a positive default would expire meetings, participants and states too.
    { id: cosmos.meetingsContainer, partitionKey: '/meetingId', ttl: -1 },
    { id: cosmos.leasesContainer, partitionKey: '/id', ttl: undefined },
  ];
  const problems: string[] = [];
  const describe = (err: unknown, what: string): string => {
    const code = (err as { code?: unknown } | null)?.code;
    if (code === 403 || code === 401) {
      return `${what} cannot be read (${String(code)}): the identity needs the Cosmos DB Built-in Data Contributor role on the account`;
    }
    return `${what} cannot be read: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
  };
  const database = client.database(cosmos.database);
  try {
    await database.read();
  } catch (err) {
    if (!isStatus(err, 404)) throw new Error(`meetstream: ${describe(err, `database '${cosmos.database}'`)}`);
    problems.push(`database '${cosmos.database}' does not exist`);
  }
  if (problems.length === 0) {
    for (const want of expected) {
      try {
        const { resource } = await database.container(want.id).read();
        const paths = resource?.partitionKey?.paths ?? [];
        if (paths.length !== 1 || paths[0] !== want.partitionKey) {
          problems.push(
            `container '${want.id}' has partition key ${paths.join(',') || '(none)'}, expected ${want.partitionKey}`,
          );
        }
        if (want.ttl !== undefined && resource?.defaultTtl !== want.ttl) {
          problems.push(
            resource?.defaultTtl === undefined || resource.defaultTtl === null
              ? `container '${want.id}' has no default TTL: it must be -1 (TTL on, items live until their own ttl)`
              : `container '${want.id}' has default TTL ${String(resource.defaultTtl)} s: it must be -1 (a positive default would expire meetings)`,
          );
        }
      } catch (err) {
        if (!isStatus(err, 404)) {
          problems.push(describe(err, `container '${want.id}'`));
          continue;
        }
        problems.push(`container '${want.id}' does not exist (partition key ${want.partitionKey})`);
      }
    }
  }
  if (problems.length > 0) {
    throw new Error(
      `meetstream: the Cosmos DB resources at ${cosmos.endpoint} are not as the app needs them` +
        (cosmos.createIfNotExists
          ? ''
          : ' (COSMOS_CREATE_IF_NOT_EXISTS is false, so nothing is created: create them in the infrastructure)') +
        `:\n  - ${problems.join('\n  - ')}`,
    );
  }
}

/** Documents are plain JSON; the SDK's batch types just cannot see that through our interfaces. */
const json = (doc: object) => doc as unknown as JSONObject;

export const isStatus = (err: unknown, code: number) => (err as { code?: unknown } | null)?.code === code;

// ---------- what the HTTP API needs ----------

export interface StoredMeeting extends MeetingDocument {
  startedAt?: string;
  endedBy?: string;
  /** Participants ever admitted, host included: the roster cap is enforced on it at join. */
  participantCount: number;
}

export interface StoredParticipant extends ParticipantDocument {
  /** Times joined (1 + rejoins): numbers the participant's joined/left system events. */
  sessions: number;
  /** Role changes so far: numbers their system events. */
  roleVersion: number;
}

/**
 * What the HTTP API knows about a poll, to refuse votes on unknown or closed polls at ingest
 * (best effort: the processor stays authoritative in feed order). Meetings container, id `poll.{pollId}`.
 */
export interface PollDocument {
  id: string;
  type: 'poll';
  schemaVersion: number;
  meetingId: string;
  pollId: string;
  status: 'open' | 'closed';
  optionCount: number;
  openedBy: string;
  openedAt: string;
  /** The poll.open event that created this document (a retried post finds its own poll). */
  openEventId: string;
  closedAt?: string;
  closeEventId?: string;
}

export const pollDocId = (pollId: string) => `poll.${pollId}`;

export type InsertOutcome = { id: string; status: 'created' | 'duplicate'; receivedAt: number };

export type MeetingStatus = MeetingDocument['status'];

export type ParticipantChange =
  | { kind: 'leave'; at: string }
  | { kind: 'rejoin' }
  | { kind: 'remove'; at: string }
  | { kind: 'role'; role: ParticipantDocument['role'] };

export interface MeetingStore {
  createMeeting(meeting: StoredMeeting, host: StoredParticipant, events: EventDocument[]): Promise<void>;
  getMeeting(meetingId: string): Promise<StoredMeeting | undefined>;
  /** Counts one more participant unless the meeting ended or already holds `max`. */
  admitParticipant(meetingId: string, max: number): Promise<'admitted' | 'full' | 'ended' | 'missing'>;
  /** Moves the meeting from one of `from` to `to`; undefined when it was in none of them. */
  transitionMeeting(
    meetingId: string,
    from: MeetingStatus[],
    to: MeetingStatus,
    fields: { startedAt?: string; endedAt?: string; endedBy?: string },
  ): Promise<StoredMeeting | undefined>;
  /** Replaces the join code's hash (rotation); undefined when the meeting does not exist. */
  setJoinCodeHash(meetingId: string, joinCodeHash: string): Promise<StoredMeeting | undefined>;
  getParticipant(meetingId: string, participantId: string): Promise<StoredParticipant | undefined>;
  createParticipant(participant: StoredParticipant): Promise<void>;
  /** Applies `change` if it still applies (e.g. not already left); undefined otherwise. */
  updateParticipant(
    meetingId: string,
    participantId: string,
    change: ParticipantChange,
  ): Promise<StoredParticipant | undefined>;
  /** Participants in id order after the document id `afterDocId`. */
  listParticipants(meetingId: string, afterDocId: string, limit: number): Promise<StoredParticipant[]>;
  getPolls(meetingId: string, pollIds: string[]): Promise<Map<string, PollDocument>>;
  countPolls(meetingId: string): Promise<{ total: number; open: number }>;
  /** Creates the poll document, or returns the one already stored under that pollId. */
  createPoll(poll: PollDocument): Promise<{ created: boolean; poll: PollDocument }>;
  /** Marks an open poll closed; undefined when it was not open. */
  closePoll(
    meetingId: string,
    pollId: string,
    at: string,
    eventId: string,
  ): Promise<PollDocument | undefined>;
  /** Compensation when the events of a post could not be stored. */
  undoPoll(meetingId: string, pollId: string, undo: 'delete' | 'reopen'): Promise<void>;
  /** Stored events of one meeting among `ids`. */
  findEvents(meetingId: string, ids: string[]): Promise<Map<string, EventDocument>>;
  /**
   * Stores events of one meeting atomically. Ids already stored with identical content are
   * reported as duplicates (idempotent retries); an id stored with different content throws
   * IdConflictError and stores nothing.
   */
  insertEvents(
    meetingId: string,
    events: EventDocument[],
    /**
     * Already-stored events among `events`, when the caller just read them (saves a read). An
     * empty map stores first and reads only on a conflict (cheapest when retries are rare).
     */
    known?: Map<string, EventDocument>,
  ): Promise<InsertOutcome[]>;
}

export class IdConflictError extends Error {
  /** A conflict, should one escape unmapped (lib/errors.ts answers 409 for it, never 500). */
  readonly code = 409;
  constructor(readonly ids: string[]) {
    super(`event ids already used for different events: ${ids.join(', ')}`);
  }
}

/** Fields that define an event's identity for idempotency (not server timestamps). */
export function sameEvent(a: EventDocument, b: EventDocument): boolean {
  return (
    a.eventType === b.eventType &&
    a.participantId === b.participantId &&
    JSON.stringify(a.data) === JSON.stringify(b.data)
  );
}

/**
 * The patch for a participant change, or undefined when it no longer applies. Checked in code
 * against the document read with its etag (not with a patch `condition`: the embedded Cosmos DB
 * lower-cases conditions, which breaks camelCase property names).
 */
function participantPatch(p: StoredParticipant, c: ParticipantChange): PatchOperation[] | undefined {
  switch (c.kind) {
    case 'leave':
      return p.leftAt || p.removedAt ? undefined : [{ op: 'set', path: '/leftAt', value: c.at }];
    case 'rejoin':
      return !p.leftAt || p.removedAt
        ? undefined
        : [
            { op: 'remove', path: '/leftAt' },
            { op: 'incr', path: '/sessions', value: 1 },
          ];
    case 'remove':
      return p.removedAt ? undefined : [{ op: 'set', path: '/removedAt', value: c.at }];
    case 'role':
      return p.role === c.role || p.removedAt
        ? undefined
        : [
            { op: 'set', path: '/role', value: c.role },
            { op: 'incr', path: '/roleVersion', value: 1 },
          ];
  }
}

const MAX_PATCH_ATTEMPTS = 10;
const MAX_INSERT_ATTEMPTS = 4;

export class CosmosMeetingStore implements MeetingStore {
  constructor(private readonly c: CosmosContainers) {}

  async createMeeting(
    meeting: StoredMeeting,
    host: StoredParticipant,
    events: EventDocument[],
  ): Promise<void> {
    await this.batch(this.c.meetings, meeting.meetingId, [
      { operationType: 'Create', resourceBody: json(meeting) },
      { operationType: 'Create', resourceBody: json(host) },
    ]);
    await this.insertEvents(meeting.meetingId, events);
  }

  async getMeeting(meetingId: string): Promise<StoredMeeting | undefined> {
    const { resource } = await this.c.meetings.item(MEETING_DOC_ID, meetingId).read<StoredMeeting>();
    return resource;
  }

  async admitParticipant(meetingId: string, max: number): Promise<'admitted' | 'full' | 'ended' | 'missing'> {
    // An unconditional increment is atomic and never contends; going over is undone at once.
    const item = this.c.meetings.item(MEETING_DOC_ID, meetingId);
    let counted: StoredMeeting | undefined;
    try {
      counted = (await item.patch<StoredMeeting>([{ op: 'incr', path: '/participantCount', value: 1 }]))
        .resource;
    } catch (err) {
      if (isStatus(err, 404)) return 'missing';
      throw err;
    }
    if (counted && counted.status !== 'ended' && counted.participantCount <= max) return 'admitted';
    await item.patch([{ op: 'incr', path: '/participantCount', value: -1 }]);
    return counted?.status === 'ended' ? 'ended' : 'full';
  }

  async transitionMeeting(
    meetingId: string,
    from: MeetingStatus[],
    to: MeetingStatus,
    fields: { startedAt?: string; endedAt?: string; endedBy?: string },
  ): Promise<StoredMeeting | undefined> {
    return this.patchIf<StoredMeeting>(this.c.meetings, MEETING_DOC_ID, meetingId, (m) => {
      if (!from.includes(m.status)) return undefined;
      const operations: PatchOperation[] = [{ op: 'set', path: '/status', value: to }];
      for (const [k, v] of Object.entries(fields))
        if (v !== undefined) operations.push({ op: 'set', path: `/${k}`, value: v });
      return operations;
    });
  }

  async setJoinCodeHash(meetingId: string, joinCodeHash: string): Promise<StoredMeeting | undefined> {
    try {
      const { resource } = await this.c.meetings
        .item(MEETING_DOC_ID, meetingId)
        .patch<StoredMeeting>([{ op: 'set', path: '/joinCodeHash', value: joinCodeHash }]);
      return resource;
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
  }

  async getParticipant(meetingId: string, participantId: string): Promise<StoredParticipant | undefined> {
    const { resource } = await this.c.meetings
      .item(participantDocId(participantId), meetingId)
      .read<StoredParticipant>();
    return resource;
  }

  async createParticipant(participant: StoredParticipant): Promise<void> {
    await this.c.meetings.items.create(participant);
  }

  async updateParticipant(
    meetingId: string,
    participantId: string,
    change: ParticipantChange,
  ): Promise<StoredParticipant | undefined> {
    return this.patchIf<StoredParticipant>(this.c.meetings, participantDocId(participantId), meetingId, (p) =>
      participantPatch(p, change),
    );
  }

  async listParticipants(meetingId: string, afterDocId: string, limit: number): Promise<StoredParticipant[]> {
    const { resources } = await this.c.meetings.items
      .query<StoredParticipant>(
        {
          query:
            "SELECT TOP @n * FROM c WHERE c.meetingId = @m AND c.type = 'participant' AND c.id > @after ORDER BY c.id",
          parameters: [
            { name: '@n', value: limit },
            { name: '@m', value: meetingId },
            { name: '@after', value: afterDocId },
          ],
        },
        { partitionKey: meetingId },
      )
      .fetchAll();
    return resources;
  }

  async getPolls(meetingId: string, pollIds: string[]): Promise<Map<string, PollDocument>> {
    const found = new Map<string, PollDocument>();
    const docs = await Promise.all(
      pollIds.map((id) =>
        this.c.meetings
          .item(pollDocId(id), meetingId)
          .read<PollDocument>()
          .then((r) => r.resource),
      ),
    );
    for (const doc of docs) if (doc) found.set(doc.pollId, doc);
    return found;
  }

  async countPolls(meetingId: string): Promise<{ total: number; open: number }> {
    const { resources } = await this.c.meetings.items
      .query<string>(
        {
          query: "SELECT VALUE c.status FROM c WHERE c.meetingId = @m AND c.type = 'poll'",
          parameters: [{ name: '@m', value: meetingId }],
        },
        { partitionKey: meetingId },
      )
      .fetchAll();
    return { total: resources.length, open: resources.filter((s) => s === 'open').length };
  }

  async createPoll(poll: PollDocument): Promise<{ created: boolean; poll: PollDocument }> {
    try {
      await this.c.meetings.items.create(poll);
      return { created: true, poll };
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
      const existing = (await this.getPolls(poll.meetingId, [poll.pollId])).get(poll.pollId);
      if (!existing) throw err;
      return { created: false, poll: existing };
    }
  }

  async closePoll(
    meetingId: string,
    pollId: string,
    at: string,
    eventId: string,
  ): Promise<PollDocument | undefined> {
    return this.patchIf<PollDocument>(this.c.meetings, pollDocId(pollId), meetingId, (p) =>
      p.status !== 'open'
        ? undefined
        : [
            { op: 'set', path: '/status', value: 'closed' },
            { op: 'set', path: '/closedAt', value: at },
            { op: 'set', path: '/closeEventId', value: eventId },
          ],
    );
  }

  async undoPoll(meetingId: string, pollId: string, undo: 'delete' | 'reopen'): Promise<void> {
    const item = this.c.meetings.item(pollDocId(pollId), meetingId);
    try {
      if (undo === 'delete') await item.delete();
      else
        await item.patch([
          { op: 'set', path: '/status', value: 'open' },
          { op: 'remove', path: '/closedAt' },
          { op: 'remove', path: '/closeEventId' },
        ]);
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
    }
  }

  async findEvents(meetingId: string, ids: string[]): Promise<Map<string, EventDocument>> {
    const found = new Map<string, EventDocument>();
    if (ids.length === 0) return found;
    if (ids.length === 1) {
      const { resource } = await this.c.events.item(ids[0]!, meetingId).read<EventDocument>();
      if (resource) found.set(resource.id, resource);
      return found;
    }
    const { resources } = await this.c.events.items
      .query<EventDocument>(
        {
          query: 'SELECT * FROM c WHERE c.meetingId = @m AND ARRAY_CONTAINS(@ids, c.id)',
          parameters: [
            { name: '@m', value: meetingId },
            { name: '@ids', value: ids },
          ],
        },
        { partitionKey: meetingId },
      )
      .fetchAll();
    for (const r of resources) found.set(r.id, r);
    return found;
  }

  async insertEvents(
    meetingId: string,
    events: EventDocument[],
    known?: Map<string, EventDocument>,
  ): Promise<InsertOutcome[]> {
    return this.insertEventsAttempt(meetingId, events, known, 1);
  }

  /**
   * One attempt: with `known` given (possibly empty: create-first), no read before the write; a
   * 409 means some ids were stored meanwhile (or before, create-first), so the next attempt reads
   * them and answers them as duplicates or conflicts.
   */
  private async insertEventsAttempt(
    meetingId: string,
    events: EventDocument[],
    known: Map<string, EventDocument> | undefined,
    attempt: number,
  ): Promise<InsertOutcome[]> {
    if (events.length === 0) return [];
    const existing =
      known ??
      (await this.findEvents(
        meetingId,
        events.map((e) => e.id),
      ));
    const conflicts = events
      .filter((e) => existing.has(e.id) && !sameEvent(existing.get(e.id)!, e))
      .map((e) => e.id);
    if (conflicts.length) throw new IdConflictError(conflicts);
    const fresh = events.filter((e) => !existing.has(e.id));
    const retry = (err: unknown) => {
      // Reading what conflicted and retrying settles it; going round more often means the store
      // answers 409 for ids it cannot show (not expected): give up with that answer.
      if (attempt >= MAX_INSERT_ATTEMPTS) throw err;
      return this.insertEventsAttempt(meetingId, events, undefined, attempt + 1);
    };
    if (fresh.length === 1) {
      try {
        await this.c.events.items.create(fresh[0]!);
      } catch (err) {
        // Already stored (a retry, create-first) or lost a race with a concurrent identical post.
        if (!isStatus(err, 409)) throw err;
        return retry(err);
      }
    } else if (fresh.length > 1) {
      const ok = await this.batch(
        this.c.events,
        meetingId,
        fresh.map((e) => ({ operationType: 'Create' as const, resourceBody: json(e) })),
        true,
      );
      if (!ok) return retry(Object.assign(new Error('transactional batch failed with 409'), { code: 409 }));
    }
    return events.map((e) => {
      const stored = existing.get(e.id);
      return stored
        ? { id: e.id, status: 'duplicate', receivedAt: stored.receivedAt }
        : { id: e.id, status: 'created', receivedAt: e.receivedAt };
    });
  }

  /**
   * Optimistic read-check-patch: `decide` sees the stored document and returns the patch, or
   * undefined when the change does not apply (then undefined is returned, as for a missing
   * document). The patch is guarded by the etag read, and redone on the fresh document if another
   * writer got there first.
   */
  private async patchIf<T extends object>(
    container: Container,
    id: string,
    meetingId: string,
    decide: (doc: T) => PatchOperation[] | undefined,
  ): Promise<T | undefined> {
    const item = container.item(id, meetingId);
    for (let attempt = 1; ; attempt++) {
      const { resource, etag } = await item.read<T>();
      if (!resource) return undefined;
      const operations = decide(resource);
      if (!operations) return undefined;
      try {
        const patched = await item.patch<T>(operations, {
          accessCondition: { type: 'IfMatch', condition: etag },
        });
        return patched.resource;
      } catch (err) {
        if (isStatus(err, 404)) return undefined;
        if (!isStatus(err, 412) || attempt >= MAX_PATCH_ATTEMPTS) throw err;
      }
    }
  }

  /** A transactional batch; returns false on a 409 when `conflictIsRetryable`, throws otherwise. */
  private async batch(
    container: Container,
    meetingId: string,
    operations: OperationInput[],
    conflictIsRetryable = false,
  ): Promise<boolean> {
    // Callers look at statuses only: no copies of the written documents back.
    const response = await container.items.batch(operations, meetingId, {
      contentResponseOnWriteEnabled: false,
    });
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
  /** Records documents the processor skipped (idempotent: the same first LSN is one record). */
  park(record: ParkedDocument): Promise<void>;
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
    // Only the new etag is needed: no copy of the state and pages back (≈ a third of the
    // commit's CPU on both sides with a 15 KB state, bench/ops.ts).
    const response = await this.meetings.items.batch(ops, meetingId, {
      contentResponseOnWriteEnabled: false,
    });
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

  pagesAfter(meetingId: string, afterSeq: number, maxPages: number): Promise<PageDocument[]> {
    return queryPagesAfter(this.meetings, meetingId, afterSeq, maxPages);
  }

  async park(record: ParkedDocument): Promise<void> {
    await this.meetings.items.upsert(json(record));
  }

  /** The meeting's parked records, oldest first (the ops view), without Cosmos DB's system properties. */
  async parked(meetingId: string): Promise<ParkedDocument[]> {
    const { resources } = await this.meetings.items
      .query<ParkedDocument>(
        'SELECT c.id, c.type, c.schemaVersion, c.meetingId, c.eventIds, c.firstLsn, c.lastLsn, c.reason, ' +
          "c.retryCount, c.parkedAt FROM c WHERE c.type = 'parked' ORDER BY c.firstLsn",
        { partitionKey: meetingId },
      )
      .fetchAll();
    return resources;
  }

  /** How many parked records exist across all meetings (health; cross-partition but tiny). */
  async parkedCount(): Promise<number> {
    const { resources } = await this.meetings.items
      .query<number>("SELECT VALUE COUNT(1) FROM c WHERE c.type = 'parked'")
      .fetchAll();
    return resources.reduce((a, b) => a + b, 0);
  }
}

/** Pages of a meeting whose last seq is after `afterSeq`, in seq order (processor and catch-up). */
export async function queryPagesAfter(
  meetings: Container,
  meetingId: string,
  afterSeq: number,
  maxPages: number,
): Promise<PageDocument[]> {
  const { resources } = await meetings.items
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
