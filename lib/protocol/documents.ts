/**
 * What the service stores in Cosmos DB (partition key /meetingId everywhere): server-side shapes,
 * not part of what clients see. Kept beside the wire protocol because stored events and pages hold
 * its types.
 */
import type { Envelope, MeetingStatus } from './envelopes';
import type { EventType, Role } from './events';

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
  status: MeetingStatus;
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
