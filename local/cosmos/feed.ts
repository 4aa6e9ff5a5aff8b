import type { CosmosDoc } from './patches';

/**
 * Append-only list of item versions in LSN order. A version stays in the list after it is
 * superseded or deleted (it is skipped on read and dropped by compaction), so a write is O(1) and
 * reading from an LSN is a binary search plus a scan of what follows it.
 */
export class FeedLog {
  private lsns: number[] = [];
  private docs: CosmosDoc[] = [];
  private stale = 0;

  constructor(private readonly isCurrent: (doc: CosmosDoc) => boolean) {}

  get length(): number {
    return this.docs.length;
  }

  push(doc: CosmosDoc): void {
    this.lsns.push(doc._lsn ?? 0);
    this.docs.push(doc);
  }

  /** Called when an entry stops being current (replaced, deleted, expired). */
  superseded(): void {
    this.stale += 1;
    if (this.stale > 1024 && this.stale * 2 > this.docs.length) this.compact();
  }

  /**
   * Current versions with LSN > `after`, at most `max`, that pass `accept`. `next` is the LSN to
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
    for (; i < this.docs.length && out.length < max; i += 1) {
      const doc = this.docs[i] as CosmosDoc;
      if (!this.isCurrent(doc) || !accept(doc)) continue;
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
    for (let i = 0; i < this.docs.length; i += 1) {
      const doc = this.docs[i] as CosmosDoc;
      if (this.isCurrent(doc)) {
        docs.push(doc);
        lsns.push(this.lsns[i] as number);
      }
    }
    this.lsns = lsns;
    this.docs = docs;
    this.stale = 0;
  }
}

/** Map key for a partition key value; distinguishes 1 from "1" and undefined (None) from null. */
export function partitionKeyOf(value: unknown): string {
  return value === undefined ? '\u0000none' : JSON.stringify(value);
}

export interface Partition {
  docs: Map<string, CosmosDoc>;
  log: FeedLog;
}
