/**
 * The change-feed processor (design (b) of SPEC §7: sequence at processing).
 *
 * The change feed delivers each meeting's events in commit (LSN) order, at least once. For every
 * meeting in a batch the processor folds the new events into the meeting's model, numbers the
 * resulting envelopes with the meeting's gapless `seq`, and commits the new state together with
 * the page of envelopes in ONE transactional batch guarded by the state's etag. The state records
 * the highest LSN applied, so a redelivered batch is recognised and changes nothing; a concurrent
 * writer (lease takeover) makes the commit fail with a stale etag, and the work is redone on the
 * fresh state. Only after the commit are the envelopes pushed, in one send per meeting. A failed
 * push never fails the batch: the envelopes are durable in their page, pending pushes are retried
 * in order before the meeting's next envelopes, and clients can always catch up from the pages.
 */
import { StaleStateError, type StateStore } from '../ports';
import type { Publisher } from '../ports';
import {
  applyEvent,
  flushAnalytics,
  initialModel,
  type DraftEnvelope,
  type MeetingModel,
} from '../domain/meeting';
import {
  SCHEMA_VERSION,
  pageDocId,
  parkedDocId,
  type Envelope,
  type EventDocument,
  type PageDocument,
} from '../protocol';
import { classifyFailure, refusedForGood } from './failures';
import { recordHop, sinceAccepted, type HopMeter, type HopSketches, type ProcessorHop } from './latency';

export interface ProcessorState {
  /** Last seq assigned. */
  seq: number;
  /** Highest change-feed LSN folded into the model. */
  lsn: number;
  /** Seq known to have been pushed when this state was committed (lags by at most one batch). */
  pushedSeq: number;
  model: MeetingModel;
  poison: { count: number; recent: Array<{ id: string; reason: string }> };
  /**
   * Hop latency quantiles of the meeting's events, accepted → processed and accepted → pushed
   * (lib/processing/latency.ts). Measured after the commit and the push, so the stored values lag
   * by at most one batch. Absent in states stored before it existed.
   */
  hops?: HopSketches;
}

export interface ProcessorOptions {
  store: StateStore<ProcessorState>;
  publisher: Publisher;
  clock: () => number;
  /** Seconds pages are kept (Cosmos TTL). */
  retentionSeconds: number;
  log: (message: string) => void;
  /** Max UTF-8 bytes of envelopes per page / transactional batch (Cosmos DB limits 2 MB). */
  maxPageBytes?: number;
  /**
   * Trigger retries after which a meeting's documents that keep failing for a permanent reason
   * (lib/processing/failures.ts) are parked instead of failing the batch again (default 3).
   */
  parkAfterRetries?: number;
  /** This instance's latency meter (the operators' health view); the meeting's own is in its state. */
  meter?: HopMeter;
}

export interface BatchOptions {
  /** How many times the trigger has already retried this batch (its retry context). */
  retryCount?: number;
}

export interface BatchReport {
  meetings: number;
  applied: number;
  redelivered: number;
  poison: number;
  envelopes: number;
  /** Documents set aside after a permanent failure (see parkAfterRetries). */
  parked: number;
}

interface Entry {
  state: ProcessorState;
  etag?: string;
  pushedSeq: number;
}

const MAX_COMMIT_ATTEMPTS = 5;

const emptyReport = (): BatchReport => ({
  meetings: 0,
  applied: 0,
  redelivered: 0,
  poison: 0,
  envelopes: 0,
  parked: 0,
});

/** Largest Web PubSub message the processor sends: under the service's 1 MB, with headroom. */
export const MAX_SEND_BYTES = 900 * 1024;

/** Consecutive runs of envelopes whose JSON array stays within `maxBytes` (one oversized envelope alone). */
export function bySize(envelopes: Envelope[], maxBytes: number): Envelope[][] {
  const parts: Envelope[][] = [];
  let current: Envelope[] = [];
  let bytes = 2; // the array's brackets
  for (const envelope of envelopes) {
    const size = Buffer.byteLength(JSON.stringify(envelope)) + 1; // and its comma
    if (current.length > 0 && bytes + size > maxBytes) {
      parts.push(current);
      current = [];
      bytes = 2;
    }
    current.push(envelope);
    bytes += size;
  }
  if (current.length > 0) parts.push(current);
  return parts;
}

export class MeetingProcessor {
  private readonly cache = new Map<string, Entry>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly maxPageBytes: number;

  constructor(private readonly opts: ProcessorOptions) {
    this.maxPageBytes = opts.maxPageBytes ?? 512 * 1024;
  }

  async processBatch(documents: unknown[], options: BatchOptions = {}): Promise<BatchReport> {
    const byMeeting = new Map<string, Array<Record<string, unknown>>>();
    for (const doc of documents) {
      if (!doc || typeof doc !== 'object') continue;
      const meetingId = (doc as { meetingId?: unknown }).meetingId;
      if (typeof meetingId !== 'string') continue;
      let list = byMeeting.get(meetingId);
      if (!list) byMeeting.set(meetingId, (list = []));
      list.push(doc as Record<string, unknown>);
    }
    const report = { ...emptyReport(), meetings: byMeeting.size };
    const retryCount = options.retryCount ?? 0;
    const outcomes = await Promise.allSettled(
      [...byMeeting].map(([meetingId, docs]) =>
        this.withLock(meetingId, () =>
          this.processMeeting(meetingId, docs, report).catch((err: unknown) =>
            this.parkOrThrow(meetingId, docs, err, retryCount, report),
          ),
        ),
      ),
    );
    // Every meeting had its turn (one failing meeting does not keep the others from committing);
    // the first failure fails the batch so the trigger delivers it again.
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
    return report;
  }

  /**
   * After a permanent failure has survived `parkAfterRetries` redeliveries, records the meeting's
   * documents of this batch as parked (durably) and lets the batch succeed, so the feed range
   * moves on; transient failures are always thrown again (retried without limit).
   */
  private async parkOrThrow(
    meetingId: string,
    docs: Array<Record<string, unknown>>,
    err: unknown,
    retryCount: number,
    report: BatchReport,
  ): Promise<void> {
    const limit = this.opts.parkAfterRetries ?? 3;
    if (classifyFailure(err) === 'transient' || retryCount < limit) throw err;
    const lsns = docs.map((d) => d._lsn).filter((l): l is number => typeof l === 'number');
    const firstLsn = lsns.length ? Math.min(...lsns) : -1;
    await this.opts.store.park({
      id: parkedDocId(firstLsn),
      type: 'parked',
      schemaVersion: SCHEMA_VERSION,
      meetingId,
      eventIds: docs.map((d) => String(d.id)),
      firstLsn,
      lastLsn: lsns.length ? Math.max(...lsns) : -1,
      reason: message(err).slice(0, 500),
      retryCount,
      parkedAt: new Date(this.opts.clock()).toISOString(),
    });
    report.parked += docs.length;
    this.opts.log(
      `meeting ${meetingId}: parked ${docs.length} document(s) (LSN ${firstLsn}..) after ${retryCount} retries: ${message(err)}`,
    );
  }

  private async processMeeting(
    meetingId: string,
    docs: Array<Record<string, unknown>>,
    report: BatchReport,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const entry = await this.entry(meetingId);
      try {
        await this.apply(meetingId, entry, docs, report);
        return;
      } catch (err) {
        // The cached state may be half-applied: drop it and start again from the stored state.
        this.cache.delete(meetingId);
        if (!(err instanceof StaleStateError) || attempt >= MAX_COMMIT_ATTEMPTS) throw err;
      }
    }
  }

  private async apply(
    meetingId: string,
    entry: Entry,
    docs: Array<Record<string, unknown>>,
    report: BatchReport,
  ): Promise<void> {
    const unnumbered = docs.find((d) => typeof d._lsn !== 'number');
    if (unnumbered)
      throw new Error(
        `change-feed document ${String(unnumbered.id)} has no numeric _lsn; cannot order or dedupe it`,
      );
    const pushedInOrder = await this.pushPending(meetingId, entry);
    const fresh = docs.filter((d) => (d._lsn as number) > entry.state.lsn);
    report.redelivered += docs.length - fresh.length;
    if (fresh.length === 0) return;

    const { state } = entry;
    const chunk = new Chunk(this.maxPageBytes);
    for (const [i, doc] of fresh.entries()) {
      const event = asEvent(doc);
      if (typeof event === 'string') {
        state.poison.count++;
        state.poison.recent = [...state.poison.recent.slice(-19), { id: String(doc.id), reason: event }];
        report.poison++;
      } else {
        chunk.add(applyEvent(state.model, event, this.opts.clock()), state, meetingId);
        report.applied++;
      }
      state.lsn = doc._lsn as number;
      chunk.dirty = true;
      // Every item of one transactional batch has the same _lsn, and state.lsn is what tells a
      // redelivery: commit only at the end of an LSN group, or a failure after a mid-group commit
      // would make the rest of the group look already applied (docs/delivery-design.md).
      const groupEnds = fresh[i + 1]?._lsn !== doc._lsn;
      if (chunk.full && groupEnds) await this.commit(meetingId, entry, chunk, pushedInOrder, report);
    }
    // Analytics once per meeting per batch (not per event): fewer envelopes, same final values.
    chunk.add(flushAnalytics(state.model, this.opts.clock()), state, meetingId);
    await this.commit(meetingId, entry, chunk, pushedInOrder, report);
  }

  /**
   * Moves the windows of the given meetings (or of every cached meeting) forward: pending pushes
   * first, then analytics that changed with time alone. Called by the periodic tick.
   */
  async tick(meetingIds?: Iterable<string>): Promise<number> {
    let envelopes = 0;
    const ids = meetingIds ? [...meetingIds] : [...this.cache.keys()];
    await Promise.all(
      ids.map((meetingId) =>
        this.withLock(meetingId, async () => {
          for (let attempt = 1; ; attempt++) {
            const entry = await this.entry(meetingId);
            try {
              const pushedInOrder = await this.pushPending(meetingId, entry);
              if (entry.state.model.status !== 'live') return;
              const chunk = new Chunk(this.maxPageBytes);
              chunk.add(flushAnalytics(entry.state.model, this.opts.clock()), entry.state, meetingId);
              const report = emptyReport();
              await this.commit(meetingId, entry, chunk, pushedInOrder, report);
              envelopes += report.envelopes;
              return;
            } catch (err) {
              this.cache.delete(meetingId);
              if (!(err instanceof StaleStateError) || attempt >= MAX_COMMIT_ATTEMPTS) throw err;
            }
          }
        }),
      ),
    );
    return envelopes;
  }

  /** Commits the chunk's envelopes with the state (if anything changed), then pushes them. */
  private async commit(
    meetingId: string,
    entry: Entry,
    chunk: Chunk,
    pushedInOrder: boolean,
    report: BatchReport,
  ): Promise<void> {
    if (!chunk.dirty) return;
    const envelopes = chunk.take();
    entry.state.pushedSeq = entry.pushedSeq;
    const pages = envelopes.length ? [this.page(meetingId, envelopes)] : [];
    entry.etag = await this.opts.store.commit(meetingId, entry.state, entry.etag, pages);
    this.cache.set(meetingId, entry);
    report.envelopes += envelopes.length;
    this.measure(meetingId, entry, 'processed', envelopes);
    if (envelopes.length && pushedInOrder) await this.push(meetingId, entry, envelopes);
  }

  private page(meetingId: string, envelopes: Envelope[]): PageDocument {
    return {
      id: pageDocId(envelopes[0]!.seq),
      type: 'page',
      schemaVersion: SCHEMA_VERSION,
      meetingId,
      firstSeq: envelopes[0]!.seq,
      lastSeq: envelopes[envelopes.length - 1]!.seq,
      envelopes,
      createdAt: new Date(this.opts.clock()).toISOString(),
      ttl: this.opts.retentionSeconds,
    };
  }

  /** Pushes committed-but-unpushed envelopes in order. Returns true when nothing is pending. */
  private async pushPending(meetingId: string, entry: Entry): Promise<boolean> {
    while (entry.pushedSeq < entry.state.seq) {
      let pages: PageDocument[];
      try {
        pages = await this.opts.store.pagesAfter(meetingId, entry.pushedSeq, 20);
      } catch (err) {
        this.opts.log(`meeting ${meetingId}: reading pending pages failed: ${message(err)}`);
        return false;
      }
      if (pages.length === 0) {
        // Pages expired (retention) or never existed: nothing left to push.
        entry.pushedSeq = entry.state.seq;
        break;
      }
      for (const page of pages) {
        const envelopes = page.envelopes.filter((e) => e.seq > entry.pushedSeq);
        if (!(await this.push(meetingId, entry, envelopes))) return false;
      }
    }
    return true;
  }

  /**
   * Sends the envelopes in order, in messages of at most MAX_SEND_BYTES (Web PubSub refuses
   * messages over 1 MB). A message the hub refuses for good (a 4xx that retrying cannot change) is
   * logged and skipped, so it cannot hold back the meeting's later pushes: clients see the seq gap
   * and fetch the skipped envelopes from the durable pages. Anything else is retried later, in order.
   */
  private async push(meetingId: string, entry: Entry, envelopes: Envelope[]): Promise<boolean> {
    for (const part of bySize(envelopes, MAX_SEND_BYTES)) {
      try {
        await this.opts.publisher.publish(meetingId, part);
        this.measure(meetingId, entry, 'pushed', part);
      } catch (err) {
        const range = `seq ${part[0]!.seq}..${part[part.length - 1]!.seq}`;
        if (!refusedForGood(err)) {
          this.opts.log(`meeting ${meetingId}: push of ${range} failed, will retry: ${message(err)}`);
          return false;
        }
        this.opts.log(
          `meeting ${meetingId}: push of ${range} refused by the hub, skipped (clients catch up from the log): ${message(err)}`,
        );
      }
      entry.pushedSeq = part[part.length - 1]!.seq;
    }
    return true;
  }

  /** Times `hop` of the event envelopes, in the meeting's state and this instance's meter. */
  private measure(meetingId: string, entry: Entry, hop: ProcessorHop, envelopes: Envelope[]): void {
    const hops = (entry.state.hops ??= {});
    for (const ms of sinceAccepted(envelopes, this.opts.clock())) {
      recordHop(hops, hop, ms);
      this.opts.meter?.record(meetingId, hop, ms);
    }
  }

  private async entry(meetingId: string): Promise<Entry> {
    const cached = this.cache.get(meetingId);
    if (cached) return cached;
    const stored = await this.opts.store.load(meetingId);
    const state: ProcessorState = stored?.state ?? {
      seq: 0,
      lsn: -1,
      pushedSeq: 0,
      model: initialModel(),
      poison: { count: 0, recent: [] },
    };
    const entry: Entry = { state, etag: stored?.etag, pushedSeq: state.pushedSeq };
    this.cache.set(meetingId, entry);
    return entry;
  }

  /** Serialises work per meeting within this process (batches and ticks may overlap). */
  private withLock<T>(meetingId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(meetingId) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(meetingId, settled);
    void settled.then(() => {
      if (this.locks.get(meetingId) === settled) this.locks.delete(meetingId);
    });
    return next;
  }
}

/** Envelopes waiting to be committed together, numbered as they are added. */
class Chunk {
  private envelopes: Envelope[] = [];
  private bytes = 0;
  /** The state changed (events applied or skipped) since the last commit. */
  dirty = false;

  constructor(private readonly maxBytes: number) {}

  add(drafts: DraftEnvelope[], state: ProcessorState, meetingId: string): void {
    for (const draft of drafts) {
      const envelope = { ...draft, seq: ++state.seq, meetingId } as Envelope;
      this.envelopes.push(envelope);
      // UTF-8 bytes, as Cosmos DB and Web PubSub count them (a CJK character is 3 bytes, 1 char).
      this.bytes += Buffer.byteLength(JSON.stringify(envelope));
      this.dirty = true;
    }
  }

  get full(): boolean {
    return this.bytes >= this.maxBytes;
  }

  take(): Envelope[] {
    const out = this.envelopes;
    this.envelopes = [];
    this.bytes = 0;
    this.dirty = false;
    return out;
  }
}

/** Validates a change-feed document as an event; returns the reason when it is poison. */
function asEvent(doc: Record<string, unknown>): EventDocument | string {
  if (doc.type !== 'event') return `not an event document (type ${JSON.stringify(doc.type)})`;
  if (typeof doc.id !== 'string' || typeof doc.eventType !== 'string') return 'missing id or eventType';
  if (typeof doc.receivedAt !== 'number') return 'missing receivedAt';
  if (!doc.data || typeof doc.data !== 'object') return 'missing data';
  return doc as unknown as EventDocument;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
