/**
 * In-memory stand-ins for the storage and publishing ports (lib/ports.ts), for unit tests of pure
 * logic only: the processor, the write side's use cases, presence. The end-to-end tests use the
 * real SDKs against the local stack.
 */
import { participantChangeApplies, type ParticipantChange } from '../../lib/domain/rules';
import {
  sameEvent,
  type PollDocument,
  type StoredMeeting,
  type StoredParticipant,
} from '../../lib/documents';
import {
  IdConflictError,
  StaleStateError,
  type InsertOutcome,
  type MeetingStatus,
  type MeetingStore,
  type PresenceStore,
  type Publisher,
  type StateStore,
  type StoredState,
} from '../../lib/ports';
import type {
  Envelope,
  EventDocument,
  PageDocument,
  ParkedDocument,
  ParticipantDocument,
  PresenceDocument,
} from '../../lib/protocol';

export class MemoryStateStore<S> implements StateStore<S> {
  states = new Map<string, { state: string; etag: string }>();
  pages = new Map<string, PageDocument[]>();
  commits = 0;
  private version = 0;
  /** Set to make the next commit fail like a network error. */
  failNextCommit?: Error;
  /** Set to make every commit fail (a failure retrying cannot fix) until cleared. */
  failCommits?: Error;
  parked: ParkedDocument[] = [];

  async load(meetingId: string): Promise<StoredState<S> | undefined> {
    const s = this.states.get(meetingId);
    return s ? { state: JSON.parse(s.state) as S, etag: s.etag } : undefined;
  }

  async commit(
    meetingId: string,
    state: S,
    etag: string | undefined,
    pages: PageDocument[],
  ): Promise<string> {
    if (this.failCommits) throw this.failCommits;
    if (this.failNextCommit) {
      const err = this.failNextCommit;
      this.failNextCommit = undefined;
      throw err;
    }
    const current = this.states.get(meetingId);
    if ((current?.etag ?? undefined) !== etag) throw new StaleStateError(meetingId);
    const list = this.pages.get(meetingId) ?? [];
    for (const p of pages) if (list.some((q) => q.id === p.id)) throw new StaleStateError(meetingId);
    const next = `"${++this.version}"`;
    this.states.set(meetingId, { state: JSON.stringify(state), etag: next });
    this.pages.set(meetingId, [...list, ...(JSON.parse(JSON.stringify(pages)) as PageDocument[])]);
    this.commits++;
    return next;
  }

  async pagesAfter(meetingId: string, afterSeq: number, maxPages: number): Promise<PageDocument[]> {
    return (this.pages.get(meetingId) ?? [])
      .filter((p) => p.lastSeq > afterSeq)
      .sort((a, b) => a.firstSeq - b.firstSeq)
      .slice(0, maxPages);
  }

  async park(record: ParkedDocument): Promise<void> {
    this.parked = [
      ...this.parked.filter((p) => p.id !== record.id || p.meetingId !== record.meetingId),
      record,
    ];
  }

  envelopes(meetingId: string): Envelope[] {
    return (this.pages.get(meetingId) ?? []).flatMap((p) => p.envelopes);
  }
}

export class MemoryPublisher implements Publisher {
  sends: Array<{ meetingId: string; envelopes: Envelope[] }> = [];
  failing = false;

  async publish(meetingId: string, envelopes: Envelope[]): Promise<void> {
    if (this.failing) throw new Error('hub unavailable');
    this.sends.push({ meetingId, envelopes: JSON.parse(JSON.stringify(envelopes)) as Envelope[] });
  }

  delivered(meetingId: string): Envelope[] {
    return this.sends.filter((s) => s.meetingId === meetingId).flatMap((s) => s.envelopes);
  }
}

/** Presence documents and events in memory (PresenceStore, lib/ports.ts), with etags. */
export class MemoryPresenceStore implements PresenceStore {
  docs = new Map<string, { doc: PresenceDocument; etag: string }>();
  events: EventDocument[] = [];
  meetingStatus: MeetingStatus | undefined = 'live';
  participants = new Map<string, ParticipantDocument>();
  private version = 0;

  async read(meetingId: string, participantId: string) {
    const hit = this.docs.get(`${meetingId}/${participantId}`);
    return hit ? { doc: JSON.parse(JSON.stringify(hit.doc)) as PresenceDocument, etag: hit.etag } : undefined;
  }

  async write(doc: PresenceDocument, etag: string | undefined): Promise<string | 'conflict'> {
    const key = `${doc.meetingId}/${doc.participantId}`;
    if (this.docs.get(key)?.etag !== etag) return 'conflict';
    const next = `"${++this.version}"`;
    this.docs.set(key, { doc: JSON.parse(JSON.stringify(doc)) as PresenceDocument, etag: next });
    return next;
  }

  async insertEvent(event: EventDocument): Promise<void> {
    if (!this.events.some((e) => e.id === event.id)) this.events.push(event);
  }

  async meetingAndParticipant(_meetingId: string, participantId: string) {
    return { status: this.meetingStatus, participant: this.participants.get(participantId) };
  }

  async due(now: number, limit: number) {
    return [...this.docs.values()]
      .filter((d) => d.doc.checkAt !== null && d.doc.checkAt <= now)
      .slice(0, limit)
      .map((d) => ({ meetingId: d.doc.meetingId, participantId: d.doc.participantId }));
  }
}

/** The write side's storage in memory (MeetingStore, lib/ports.ts), applying the same rules. */
export class MemoryMeetingStore implements MeetingStore {
  meetings = new Map<string, StoredMeeting>();
  participants = new Map<string, StoredParticipant>();
  polls = new Map<string, PollDocument>();
  events = new Map<string, EventDocument>();
  private copy = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

  async createMeeting(meeting: StoredMeeting, host: StoredParticipant, events: EventDocument[]) {
    this.meetings.set(meeting.meetingId, this.copy(meeting));
    this.participants.set(`${host.meetingId}/${host.participantId}`, this.copy(host));
    await this.insertEvents(meeting.meetingId, events);
  }
  async getMeeting(id: string) {
    const m = this.meetings.get(id);
    return m && this.copy(m);
  }
  async admitParticipant(id: string, max: number) {
    const m = this.meetings.get(id);
    if (!m) return 'missing' as const;
    if (m.status === 'ended') return 'ended' as const;
    if (m.participantCount >= max) return 'full' as const;
    m.participantCount++;
    return 'admitted' as const;
  }
  async transitionMeeting(
    id: string,
    from: MeetingStatus[],
    to: MeetingStatus,
    fields: { startedAt?: string; endedAt?: string; endedBy?: string },
  ) {
    const m = this.meetings.get(id);
    if (!m || !from.includes(m.status)) return undefined;
    Object.assign(m, { status: to }, fields);
    return this.copy(m);
  }
  async setJoinCodeHash(id: string, hash: string) {
    const m = this.meetings.get(id);
    if (!m) return undefined;
    m.joinCodeHash = hash;
    return this.copy(m);
  }
  async getParticipant(meetingId: string, participantId: string) {
    const p = this.participants.get(`${meetingId}/${participantId}`);
    return p && this.copy(p);
  }
  async createParticipant(p: StoredParticipant) {
    this.participants.set(`${p.meetingId}/${p.participantId}`, this.copy(p));
  }
  async updateParticipant(meetingId: string, participantId: string, change: ParticipantChange) {
    const p = this.participants.get(`${meetingId}/${participantId}`);
    if (!p || participantChangeApplies(p, change) !== 'ok') return undefined;
    if (change.kind === 'leave') p.leftAt = change.at;
    if (change.kind === 'rejoin') {
      delete p.leftAt;
      p.sessions++;
    }
    if (change.kind === 'remove') p.removedAt = change.at;
    if (change.kind === 'role') {
      p.role = change.role;
      p.roleVersion++;
    }
    return this.copy(p);
  }
  async listParticipants(meetingId: string, afterDocId: string, limit: number) {
    return [...this.participants.values()]
      .filter((p) => p.meetingId === meetingId && p.id > afterDocId)
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .slice(0, limit)
      .map((p) => this.copy(p));
  }
  async getPolls(meetingId: string, ids: string[]) {
    const out = new Map<string, PollDocument>();
    for (const id of ids) {
      const p = this.polls.get(`${meetingId}/${id}`);
      if (p) out.set(id, this.copy(p));
    }
    return out;
  }
  async countPolls(meetingId: string) {
    const mine = [...this.polls.values()].filter((p) => p.meetingId === meetingId);
    return { total: mine.length, open: mine.filter((p) => p.status === 'open').length };
  }
  async createPoll(poll: PollDocument) {
    const key = `${poll.meetingId}/${poll.pollId}`;
    const existing = this.polls.get(key);
    if (existing) return { created: false, poll: this.copy(existing) };
    this.polls.set(key, this.copy(poll));
    return { created: true, poll };
  }
  async closePoll(meetingId: string, pollId: string, at: string, eventId: string) {
    const p = this.polls.get(`${meetingId}/${pollId}`);
    if (!p || p.status !== 'open') return undefined;
    Object.assign(p, { status: 'closed', closedAt: at, closeEventId: eventId });
    return this.copy(p);
  }
  async undoPoll(meetingId: string, pollId: string, undo: 'delete' | 'reopen') {
    const key = `${meetingId}/${pollId}`;
    const p = this.polls.get(key);
    if (!p) return;
    if (undo === 'delete') this.polls.delete(key);
    else {
      p.status = 'open';
      delete p.closedAt;
      delete p.closeEventId;
    }
  }
  async findEvents(meetingId: string, ids: string[]) {
    const out = new Map<string, EventDocument>();
    for (const id of ids) {
      const e = this.events.get(`${meetingId}/${id}`);
      if (e) out.set(id, this.copy(e));
    }
    return out;
  }
  async insertEvents(meetingId: string, events: EventDocument[]): Promise<InsertOutcome[]> {
    const conflicts = events.filter((e) => {
      const s = this.events.get(`${meetingId}/${e.id}`);
      return s && !sameEvent(s, e);
    });
    if (conflicts.length) throw new IdConflictError(conflicts.map((e) => e.id));
    return events.map((e) => {
      const key = `${meetingId}/${e.id}`;
      const stored = this.events.get(key);
      if (stored) return { id: e.id, status: 'duplicate' as const, receivedAt: stored.receivedAt };
      this.events.set(key, this.copy(e));
      return { id: e.id, status: 'created' as const, receivedAt: e.receivedAt };
    });
  }
  eventTypes(meetingId: string): string[] {
    return [...this.events.values()].filter((e) => e.meetingId === meetingId).map((e) => e.eventType);
  }
}
