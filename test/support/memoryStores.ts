/**
 * In-memory stand-ins for the processor's storage and publishing interfaces, for unit tests of
 * pure processing logic only (the end-to-end tests use the real SDKs against the local stack).
 */
import { StaleStateError, type StateStore, type StoredState } from '../../lib/ports';
import type { Publisher } from '../../lib/ports';
import type { Envelope, PageDocument, ParkedDocument } from '../../lib/protocol';

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
