import type { CosmosDoc } from './patches';

/**
 * Append-only list of item versions in LSN order. A superseded or deleted version leaves an empty
 * slot (skipped on read, dropped by compaction), so a write is O(1) and reading from an LSN is a
 * binary search plus a scan of what follows it. The slot is emptied at once: keeping the old
 * version until compaction kept every superseded state document alive (a processor replaces its
 * meeting's ~15 KB state on every commit), and compaction never came because live pages
 * outnumbered the stale versions — the embedded Cosmos DB grew by a state document per commit.
 */
export class FeedLog {
  private lsns: number[] = [];
  private docs: Array<CosmosDoc | undefined> = [];
  /** Slot of each version still in the list. */
  private slots = new Map<CosmosDoc, number>();
  private stale = 0;

  constructor(private readonly isCurrent: (doc: CosmosDoc) => boolean) {}

  get length(): number {
    return this.docs.length;
  }

  push(doc: CosmosDoc): void {
    this.slots.set(doc, this.docs.length);
    this.lsns.push(doc._lsn ?? 0);
    this.docs.push(doc);
  }

  /** Called when an entry stops being current (replaced, deleted, expired): its slot is emptied. */
  superseded(prev?: CosmosDoc): void {
    if (prev) {
      const slot = this.slots.get(prev);
      if (slot !== undefined) {
        this.docs[slot] = undefined;
        this.slots.delete(prev);
      }
    }
    this.stale += 1;
    if (this.stale > 1024 && this.stale * 2 > this.docs.length) this.compact();
  }

  /**
   * Current versions with LSN > `after`, `max` of them or a few more to finish the last LSN's
   * transaction, that pass `accept`. `next` is the LSN to
   * continue after: the last returned LSN, or `upTo` when the scan reached the end of the log.
   */
  read(
    after: number,
    max: number,
    accept: (doc: CosmosDoc) => boolean,
    upTo: number,
  ): { docs: CosmosDoc[]; next: number } {
    const out: CosmosDoc[] = [];
    let next = after;
    let i = this.firstAfter(after);
    for (; i < this.docs.length; i += 1) {
      // A page never ends inside a transaction: past `max` it takes the rest of the last LSN's
      // items (Cosmos DB does the same, so a page can exceed maxItemCount).
      if (out.length >= max && this.lsns[i] !== next) break;
      const doc = this.docs[i];
      if (doc === undefined || !this.isCurrent(doc) || !accept(doc)) continue;
      out.push(doc);
      next = doc._lsn ?? next;
    }
    if (i >= this.docs.length) next = Math.max(next, upTo);
    return { docs: out, next };
  }

  private firstAfter(lsn: number): number {
    let lo = 0;
    let hi = this.lsns.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.lsns[mid] as number) <= lsn) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private compact(): void {
    const lsns: number[] = [];
    const docs: CosmosDoc[] = [];
    const slots = new Map<CosmosDoc, number>();
    for (let i = 0; i < this.docs.length; i += 1) {
      const doc = this.docs[i];
      if (doc !== undefined && this.isCurrent(doc)) {
        slots.set(doc, docs.length);
        docs.push(doc);
        lsns.push(this.lsns[i] as number);
      }
    }
    this.lsns = lsns;
    this.docs = docs;
    this.slots = slots;
    this.stale = 0;
  }
}

/** Map key for a partition key value; distinguishes 1 from "1" and undefined (None) from null. */
export function partitionKeyOf(value: unknown): string {
  return value === undefined ? '\u0000none' : JSON.stringify(value);
}

export interface Partition {
  docs: Map<string, CosmosDoc>;
  /** The same items by their string `type` property (queries filtering on it read only those). */
  byType: Map<string, Map<string, CosmosDoc>>;
  log: FeedLog;
}
