/**
 * The documents the write side stores (meetings container: meeting, participants, polls; events
 * container: events) and the builders that make them. One eventDocument() builds every event the
 * server writes, whether a participant posted it (ingest), the service wrote it (joins, start,
 * end…) or presence did (away/back), so all of them carry the same fields.
 *
 * The wire-level shapes (EventDocument, MeetingDocument…) stay in lib/protocol; this module holds
 * what only the server adds to them.
 */
import {
  SCHEMA_VERSION,
  participantDocId,
  type EventDocument,
  type EventType,
  type MeetingDocument,
  type ParticipantDocument,
  type Role,
} from './protocol';

export type { EventDocument } from './protocol';

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

/** Fields that define an event's identity for idempotency (not server timestamps). */
export function sameEvent(a: EventDocument, b: EventDocument): boolean {
  return (
    a.eventType === b.eventType &&
    a.participantId === b.participantId &&
    JSON.stringify(a.data) === JSON.stringify(b.data)
  );
}

/** The one builder of stored events. `actor` null: the server itself (no participant, no role). */
export function eventDocument(fields: {
  meetingId: string;
  id: string;
  eventType: EventType;
  data: Record<string, unknown>;
  participantId: string | null;
  role: Role | null;
  receivedAt: number;
}): EventDocument {
  return {
    id: fields.id,
    type: 'event',
    schemaVersion: SCHEMA_VERSION,
    meetingId: fields.meetingId,
    eventType: fields.eventType,
    data: fields.data,
    participantId: fields.participantId,
    role: fields.role,
    receivedAt: fields.receivedAt,
  };
}

/**
 * A server event with a deterministic id, so retrying any use case stores each of them once.
 * `actor` is the participant it is attributed to (null: the server).
 */
export function systemEvent(
  meetingId: string,
  id: string,
  eventType: EventType,
  data: Record<string, unknown>,
  actor: { participantId: string; role: Role | null } | null,
  now: number,
): EventDocument {
  return eventDocument({
    meetingId,
    id,
    eventType,
    data,
    participantId: actor?.participantId ?? null,
    role: actor?.role ?? null,
    receivedAt: now,
  });
}

/** participant.joined for the participant's current session (also after a rejoin). */
export function joinedEvent(p: StoredParticipant, now: number): EventDocument {
  return systemEvent(
    p.meetingId,
    `sys-joined-${p.participantId}-${p.sessions}`,
    'participant.joined',
    { participantId: p.participantId, displayName: p.displayName, role: p.role },
    p,
    now,
  );
}

export function participantDocument(
  meetingId: string,
  id: string,
  displayName: string,
  role: Role,
  now: number,
): StoredParticipant {
  return {
    id: participantDocId(id),
    type: 'participant',
    schemaVersion: SCHEMA_VERSION,
    meetingId,
    participantId: id,
    displayName,
    role,
    joinedAt: new Date(now).toISOString(),
    sessions: 1,
    roleVersion: 0,
  };
}

/** The poll document recorded when `open` (a poll.open event) is accepted. */
export function pollDocument(open: EventDocument, openedBy: string): PollDocument {
  const pollId = open.data.pollId as string;
  return {
    id: pollDocId(pollId),
    type: 'poll',
    schemaVersion: SCHEMA_VERSION,
    meetingId: open.meetingId,
    pollId,
    status: 'open',
    optionCount: (open.data.options as string[]).length,
    openedBy,
    openedAt: new Date(open.receivedAt).toISOString(),
    openEventId: open.id,
  };
}

export function publicMeeting(m: StoredMeeting) {
  return {
    id: m.meetingId,
    title: m.title,
    status: m.status,
    startsAt: m.startsAt,
    endsAt: m.endsAt,
    createdAt: m.createdAt,
    startedAt: m.startedAt,
    endedAt: m.endedAt,
  };
}

export function publicParticipant(p: StoredParticipant) {
  return {
    id: p.participantId,
    displayName: p.displayName,
    role: p.role,
    status: p.removedAt ? 'removed' : p.leftAt ? 'left' : 'present',
    joinedAt: p.joinedAt,
    leftAt: p.leftAt,
    removedAt: p.removedAt,
  };
}
