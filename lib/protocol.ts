/**
 * The wire protocol shared by the functions, the processor and clients: what participants send,
 * what is stored, and the envelopes every participant receives. Changing a shape here is a
 * protocol change: bump SCHEMA_VERSION and keep readers of the old shape working.
 */
export const SCHEMA_VERSION = 1;

export type Role = 'host' | 'presenter' | 'attendee';
export const ROLES: readonly Role[] = ['host', 'presenter', 'attendee'];

export type ClientEventType =
  | 'chat.message'
  | 'reaction'
  | 'hand.raise'
  | 'hand.lower'
  | 'caption.segment'
  | 'speaking.start'
  | 'speaking.stop'
  | 'poll.open'
  | 'poll.vote'
  | 'poll.close';

export type SystemEventType =
  | 'participant.joined'
  | 'participant.left'
  | 'meeting.started'
  | 'meeting.ended'
  /** Raised by the service: all of a participant's Web PubSub connections dropped (after a grace period). */
  | 'participant.away'
  /** Raised by the service: an away participant has a connection again. */
  | 'participant.back';

export type EventType = ClientEventType | SystemEventType;

/** Reactions participants may send (one grapheme each). */
export const REACTION_EMOJI = [
  '👍',
  '👎',
  '❤️',
  '😂',
  '😮',
  '😢',
  '👏',
  '🎉',
  '🙌',
  '🔥',
  '🤔',
  '✅',
] as const;
export type ReactionEmoji = (typeof REACTION_EMOJI)[number];

/** The `data` of each event type, as stored and as delivered in event envelopes. */
export interface EventData {
  'chat.message': { text: string };
  reaction: { emoji: ReactionEmoji };
  'hand.raise': Record<string, never>;
  /** Without participantId: lower one's own hand. Hosts may lower anyone's. */
  'hand.lower': { participantId?: string };
  'caption.segment': { text: string; startMs: number; endMs: number; final: boolean; lang?: string };
  'speaking.start': Record<string, never>;
  'speaking.stop': Record<string, never>;
  'poll.open': { pollId: string; question: string; options: string[] };
  /** `option` is the index into the poll's options. */
  'poll.vote': { pollId: string; option: number };
  'poll.close': { pollId: string };
  'participant.joined': { participantId: string; displayName: string; role: Role };
  'participant.left': { participantId: string; reason: 'left' | 'removed' };
  'meeting.started': Record<string, never>;
  'meeting.ended': { endedBy?: string };
  'participant.away': { participantId: string };
  'participant.back': { participantId: string };
}

/** Web PubSub group of one meeting. Tokens are scoped to exactly this group. */
export function meetingGroup(meetingId: string): string {
  return `meeting.${meetingId}`;
}

// ---------- stored documents (partition key /meetingId everywhere) ----------

export interface EventDocument {
  /** The client's idempotency key, or a server-generated id. */
  id: string;
  type: 'event';
  schemaVersion: number;
  meetingId: string;
  eventType: EventType;
  data: Record<string, unknown>;
  /** Who sent it; null for system events not caused by a participant. */
  participantId: string | null;
  role: Role | null;
  /** Server receive time, epoch ms: the event time every window uses. */
  receivedAt: number;
  /** Cosmos DB's log sequence number, present on change-feed documents. */
  _lsn?: number;
}

export interface MeetingDocument {
  id: 'meeting';
  type: 'meeting';
  schemaVersion: number;
  meetingId: string;
  title: string;
  status: 'scheduled' | 'live' | 'ended';
  startsAt?: string;
  endsAt?: string;
  createdAt: string;
  endedAt?: string;
  /** SHA-256 of the join code: the code itself is shown once, at creation. */
  joinCodeHash: string;
  hostParticipantId: string;
}

export interface ParticipantDocument {
  id: string;
  type: 'participant';
  schemaVersion: number;
  meetingId: string;
  participantId: string;
  displayName: string;
  role: Role;
  joinedAt: string;
  leftAt?: string;
  removedAt?: string;
}

export const participantDocId = (participantId: string) => `participant.${participantId}`;
export const MEETING_DOC_ID = 'meeting';
export const STATE_DOC_ID = 'state';
/** Zero-padded so ids sort like numbers. */
export const pageDocId = (firstSeq: number) => `page.${String(firstSeq).padStart(12, '0')}`;

// ---------- envelopes (what participants receive) ----------

interface EnvelopeBase {
  /** Gapless and increasing per meeting, starting at 1. */
  seq: number;
  meetingId: string;
  /** ISO time: for events the server receive time, for state and analytics the processing time. */
  at: string;
}

/**
 * Hop timestamps (epoch ms) for latency measurement: accepted by the HTTP API, processed by the
 * change-feed function. Clients add their receive time. Identical in live pushes and catch-up.
 */
export interface Trace {
  accepted: number;
  processed: number;
}

export interface EventEnvelope extends EnvelopeBase {
  kind: 'event';
  type: EventType;
  /** The event's id (the client's idempotency key when it gave one). */
  id: string;
  /** Participant who caused it, null for system events. */
  actor: string | null;
  data: Record<string, unknown>;
  trace?: Trace;
}

export interface StateEnvelope extends EnvelopeBase {
  kind: 'state';
  type: string;
  data: Record<string, unknown>;
}

export interface AnalyticsEnvelope extends EnvelopeBase {
  kind: 'analytics';
  type: string;
  data: Record<string, unknown>;
}

export type Envelope = EventEnvelope | StateEnvelope | AnalyticsEnvelope;
export type EnvelopeKind = Envelope['kind'];

/** One Web PubSub message: all envelopes a change-feed batch produced for one meeting, in seq order. */
export type EnvelopeBatch = Envelope[];

export interface PageDocument {
  id: string;
  type: 'page';
  schemaVersion: number;
  meetingId: string;
  firstSeq: number;
  lastSeq: number;
  envelopes: Envelope[];
  createdAt: string;
  /** Seconds until Cosmos DB expires the page (retention). */
  ttl?: number;
}

/**
 * Change-feed documents the processor set aside after a failure that retrying could not fix (see
 * lib/processing/failures.ts): durable, so an operator can see what was skipped and why, and
 * replay it once fixed (POST /api/ops/meetings/{id}/rebuild recomputes from the event log).
 */
export interface ParkedDocument {
  id: string;
  type: 'parked';
  schemaVersion: number;
  meetingId: string;
  /** Ids of the event documents skipped, in feed order. */
  eventIds: string[];
  firstLsn: number;
  lastLsn: number;
  reason: string;
  /** How many times the trigger had retried the batch when it was parked. */
  retryCount: number;
  parkedAt: string;
}

export const parkedDocId = (firstLsn: number) => `parked.${String(firstLsn).padStart(12, '0')}`;

// ---------- delivery (catch-up, presence) ----------

/** `GET /api/meetings/{id}/events` answer: envelopes after `after`, gapless and in seq order. */
export interface EventsPage {
  items: Envelope[];
  /**
   * Pass as `after` to read on; null when the page reached the end of the log as it was when read
   * (clients then wait for pushes, SSE or a long-poll).
   */
  continuation: string | null;
}

export const presenceDocId = (participantId: string) => `presence.${participantId}`;

/**
 * Connection tracking of one participant (meetings container), fed by Web PubSub's
 * connected/disconnected events. Away/back transitions are decided here under the etag and then
 * written to the events container as `participant.away`/`participant.back` events numbered by
 * `transitions`, so a retried transition writes the same event id (odd = away, even = back).
 */
export interface PresenceDocument {
  id: string;
  type: 'presence';
  schemaVersion: number;
  meetingId: string;
  participantId: string;
  /** Web PubSub connection ids believed open (bounded). */
  connections: string[];
  /** Recently closed connection ids: a late or retried `connected` for them is ignored (bounded). */
  closed: string[];
  away: boolean;
  /** away/back events decided so far. */
  transitions: number;
  /** A decided transition whose event may not be written yet (written before any later one). */
  pending?: { n: number; at: number };
  lastConnectedAt: number | null;
  lastDisconnectedAt: number | null;
  /** When to ask the hub whether the participant is connected (epoch ms); null = nothing to check. */
  checkAt: number | null;
  ttl?: number;
}
