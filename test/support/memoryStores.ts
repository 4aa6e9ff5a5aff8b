/**
 * In-memory stand-ins for the processor's storage and publishing interfaces, for unit tests of
 * pure processing logic only (the end-to-end tests use the real SDKs against the local stack).
 */
import { StaleStateError, type StateStore, type StoredState } from '../../lib/ports';
import type { Publisher } from '../../lib/ports';
import type { MeetingStatus, PresenceStore } from '../../lib/ports';
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
