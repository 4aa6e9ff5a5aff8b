/**
 * Ports: every interface the application needs of storage and push, and their error types. The
 * use cases (lib/meetings/, lib/processing/, lib/delivery/) depend only on these; the adapters
 * (lib/adapters/cosmos/, lib/adapters/webPubSub.ts) implement them, and tests use in-memory
 * stand-ins (test/support/memoryStores.ts).
 */
import type { ParticipantChange } from './domain/rules';
import type { PollDocument, StoredMeeting, StoredParticipant } from './documents';
import type {
  Envelope,
  EventDocument,
  MeetingDocument,
  PageDocument,
  ParkedDocument,
  ParticipantDocument,
  PresenceDocument,
} from './protocol';

export type { ParticipantChange } from './domain/rules';

// ---------- the write side (lib/meetings/) ----------

export type InsertOutcome = { id: string; status: 'created' | 'duplicate'; receivedAt: number };

export type MeetingStatus = MeetingDocument['status'];

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
  /**
   * Applies `change` if it still applies (participantChangeApplies in lib/domain/rules.ts, checked
   * against the stored document); undefined otherwise.
   */
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

export interface ClientAccess {
  url: string;
  group: string;
}

/** The push service as the write side sees it: client URLs, and closing a removed participant. */
export interface ParticipantConnections {
  clientAccess(meetingId: string, participantId: string, expiresAtSec: number): Promise<ClientAccess>;
  /** Closes every Web PubSub connection of the participant. */
  closeParticipant(participantId: string, reason: string): Promise<void>;
}

// ---------- the processor (lib/processing/) ----------

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

export interface Publisher {
  publish(meetingId: string, envelopes: Envelope[]): Promise<void>;
}

/** One meeting's stored events in commit order (rebuilds and audits). */
export type EventLogReader = (meetingId: string, limit?: number) => Promise<EventDocument[]>;

// ---------- delivery (lib/delivery/) ----------

export interface PageSource {
  /** Pages whose last seq is after `afterSeq`, in seq order. */
  pagesAfter(meetingId: string, afterSeq: number, maxPages: number): Promise<PageDocument[]>;
  /** Highest seq in a stored page (0 when none). */
  latestPageSeq(meetingId: string): Promise<number>;
  /** Highest seq ever assigned (from the state document; 0 for a meeting without one). */
  committedSeq(meetingId: string): Promise<number>;
}

/** The hub as presence sees it. */
export interface PresenceHub {
  /** True when the user has at least one connection to the hub. */
  userExists(userId: string): Promise<boolean>;
}

/** Presence documents, and what presence reads and writes around them. */
export interface PresenceStore {
  /** The participant's presence document and its etag, as stored (undefined: none yet). */
  read(
    meetingId: string,
    participantId: string,
  ): Promise<{ doc: PresenceDocument; etag: string } | undefined>;
  /**
   * Writes the document guarded by `etag` (undefined: create it). Returns the new etag, or
   * 'conflict' when another writer changed (or created) it first.
   */
  write(doc: PresenceDocument, etag: string | undefined): Promise<string | 'conflict'>;
  /** Stores a presence event; an event already stored under its id is left as it is. */
  insertEvent(event: EventDocument): Promise<void>;
  /** The meeting's status and the participant, as stored (to decide whether to announce). */
  meetingAndParticipant(
    meetingId: string,
    participantId: string,
  ): Promise<{ status: MeetingStatus | undefined; participant: ParticipantDocument | undefined }>;
  /** Up to `limit` presence documents whose check is due at `now` (across meetings). */
  due(now: number, limit: number): Promise<Array<{ meetingId: string; participantId: string }>>;
}
