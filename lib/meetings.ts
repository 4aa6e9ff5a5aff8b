/**
 * The write-side use cases behind the HTTP API: create a meeting, join it, post events, negotiate
 * a Web PubSub connection. Functions call these after parsing; everything here is independent of
 * the Functions runtime so it can be driven directly by tests.
 */
import { timingSafeEqual } from 'node:crypto';
import { IdConflictError, type InsertOutcome, type MeetingStore } from './adapters/cosmos';
import type { ClientAccess } from './adapters/webPubSub';
import type { ClientEvent } from './domain/validation';
import { conflict, forbidden, notFound, unauthorized } from './errors';
import { joinCode, randomId, serverEventId, sha256 } from './ids';
import {
  MEETING_DOC_ID,
  SCHEMA_VERSION,
  participantDocId,
  type EventDocument,
  type EventType,
  type MeetingDocument,
  type ParticipantDocument,
  type Role,
} from './protocol';
import { signParticipantToken, verifyParticipantToken, type ParticipantClaims } from './tokens';

export interface ClientAccessIssuer {
  clientAccess(meetingId: string, participantId: string, expiresAtSec: number): Promise<ClientAccess>;
}

export interface MeetingServiceOptions {
  store: MeetingStore;
  access: ClientAccessIssuer;
  tokenSecret: string;
  tokenTtlMinutes: number;
  clock: () => number;
}

export interface IssuedToken {
  token: string;
  expiresAt: string;
}

export class MeetingService {
  constructor(private readonly opts: MeetingServiceOptions) {}

  async create(input: { title: string; startsAt?: string; endsAt?: string }) {
    const now = this.opts.clock();
    const meetingId = randomId();
    const hostId = randomId();
    const code = joinCode();
    const scheduled = input.startsAt !== undefined && Date.parse(input.startsAt) > now;
    const meeting: MeetingDocument = {
      id: MEETING_DOC_ID,
      type: 'meeting',
      schemaVersion: SCHEMA_VERSION,
      meetingId,
      title: input.title,
      status: scheduled ? 'scheduled' : 'live',
      ...(input.startsAt ? { startsAt: input.startsAt } : {}),
      ...(input.endsAt ? { endsAt: input.endsAt } : {}),
      createdAt: new Date(now).toISOString(),
      joinCodeHash: sha256(code),
      hostParticipantId: hostId,
    };
    const host = this.participant(meetingId, hostId, 'Host', 'host', now);
    const events = [this.systemEvent(meetingId, `sys-joined-${hostId}`, 'participant.joined', host, now)];
    if (!scheduled) events.unshift(this.systemEvent(meetingId, 'sys-started', 'meeting.started', null, now));
    await this.opts.store.createMeeting(meeting, host, events);
    return {
      meeting: publicMeeting(meeting),
      joinCode: code,
      host: publicParticipant(host),
      ...this.issue(host, now),
    };
  }

  async join(meetingId: string, input: { displayName: string; joinCode: string }) {
    const meeting = await this.opts.store.getMeeting(meetingId);
    if (!meeting) throw notFound('No such meeting.');
    const given = Buffer.from(sha256(input.joinCode.trim().toUpperCase()));
    if (!timingSafeEqual(given, Buffer.from(meeting.joinCodeHash)))
      throw forbidden('The join code is wrong.');
    if (meeting.status === 'ended') throw conflict('The meeting has ended.');
    const now = this.opts.clock();
    const participant = this.participant(meetingId, randomId(), input.displayName, 'attendee', now);
    await this.opts.store.addParticipant(
      participant,
      this.systemEvent(
        meetingId,
        `sys-joined-${participant.participantId}`,
        'participant.joined',
        participant,
        now,
      ),
    );
    return { participant: publicParticipant(participant), ...this.issue(participant, now) };
  }

  /** Verifies a bearer token for `meetingId`: 401 when missing/invalid/expired, 403 for another meeting. */
  authenticate(token: string | undefined, meetingId: string): ParticipantClaims {
    if (!token) throw unauthorized('A participant token is required (Authorization: Bearer <token>).');
    const check = verifyParticipantToken(token, this.opts.tokenSecret, this.opts.clock());
    if (!check.ok)
      throw unauthorized(check.reason === 'expired' ? 'The token has expired.' : 'The token is not valid.');
    if (check.claims.meetingId !== meetingId) throw forbidden('The token is for another meeting.');
    return check.claims;
  }

  async postEvents(claims: ParticipantClaims, events: ClientEvent[]): Promise<InsertOutcome[]> {
    const meeting = await this.opts.store.getMeeting(claims.meetingId);
    if (!meeting) throw notFound('No such meeting.');
    if (meeting.status === 'ended') throw conflict('The meeting has ended; it accepts no more events.');
    const ids = new Set<string>();
    for (const e of events) {
      if (e.id === undefined) continue;
      if (ids.has(e.id)) throw conflict(`The batch contains the id "${e.id}" twice.`);
      ids.add(e.id);
    }
    const receivedAt = this.opts.clock();
    const docs: EventDocument[] = events.map((e) => ({
      id: e.id ?? serverEventId(),
      type: 'event',
      schemaVersion: SCHEMA_VERSION,
      meetingId: claims.meetingId,
      eventType: e.type,
      data: e.data,
      participantId: claims.participantId,
      role: claims.role,
      receivedAt,
    }));
    try {
      return await this.opts.store.insertEvents(claims.meetingId, docs);
    } catch (err) {
      if (err instanceof IdConflictError) {
        throw conflict(`These event ids were already used for different events: ${err.ids.join(', ')}.`);
      }
      throw err;
    }
  }

  async negotiate(claims: ParticipantClaims): Promise<ClientAccess & { expiresAt: string }> {
    const access = await this.opts.access.clientAccess(
      claims.meetingId,
      claims.participantId,
      claims.expiresAt,
    );
    return { ...access, expiresAt: new Date(claims.expiresAt * 1000).toISOString() };
  }

  private issue(p: ParticipantDocument, now: number): IssuedToken {
    const expiresAt = Math.floor(now / 1000) + this.opts.tokenTtlMinutes * 60;
    const token = signParticipantToken(
      { meetingId: p.meetingId, participantId: p.participantId, role: p.role, expiresAt },
      this.opts.tokenSecret,
      now,
    );
    return { token, expiresAt: new Date(expiresAt * 1000).toISOString() };
  }

  private participant(
    meetingId: string,
    id: string,
    displayName: string,
    role: Role,
    now: number,
  ): ParticipantDocument {
    return {
      id: participantDocId(id),
      type: 'participant',
      schemaVersion: SCHEMA_VERSION,
      meetingId,
      participantId: id,
      displayName,
      role,
      joinedAt: new Date(now).toISOString(),
    };
  }

  private systemEvent(
    meetingId: string,
    id: string,
    eventType: EventType,
    about: ParticipantDocument | null,
    now: number,
  ): EventDocument {
    return {
      id,
      type: 'event',
      schemaVersion: SCHEMA_VERSION,
      meetingId,
      eventType,
      data: about
        ? { participantId: about.participantId, displayName: about.displayName, role: about.role }
        : {},
      participantId: about?.participantId ?? null,
      role: about?.role ?? null,
      receivedAt: now,
    };
  }
}

export function publicMeeting(m: MeetingDocument) {
  return {
    id: m.meetingId,
    title: m.title,
    status: m.status,
    startsAt: m.startsAt,
    endsAt: m.endsAt,
    createdAt: m.createdAt,
  };
}

export function publicParticipant(p: ParticipantDocument) {
  return { id: p.participantId, displayName: p.displayName, role: p.role, joinedAt: p.joinedAt };
}
