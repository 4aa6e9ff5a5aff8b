import Account from '@vercel/cosmosdb-server/lib/account';
import type Collection from '@vercel/cosmosdb-server/lib/account/collection';
import type Collections from '@vercel/cosmosdb-server/lib/account/collections';
import type Database from '@vercel/cosmosdb-server/lib/account/database';
import type Documents from '@vercel/cosmosdb-server/lib/account/documents';
import type ItemObject from '@vercel/cosmosdb-server/lib/account/item-object';
import { FeedLog, type Partition, partitionKeyOf } from './feed';
import { requestMeter } from './meter';
import { type CosmosDoc, type EngineHooks, raw } from './patches';
import { DiskLog } from './persistence';
import { rangesOf, type KeyRange } from './ranges';
import type { IndexingPolicy } from './rules';

/** One journaled change to a container: put a version (with its write time in ms) or delete a rid. */
type DocOp = ['p', CosmosDoc, number] | ['d', string];

/** Journal records; a snapshot is the same records describing the whole state. */
type JournalRecord =
  | { t: 'db'; v: ItemObject; rc: number }
  | { t: 'dbdel'; rid: string }
  | { t: 'coll'; db: string; v: ItemObject; rc: number }
  | { t: 'colldel'; db: string; rid: string }
  | { t: 'docs'; db: string; c: string; rc: number; lsn: number; ops: DocOp[] };

/** Per-container bookkeeping that upstream does not have. */
class ContainerState {
  /** Last LSN handed out. LSNs are per container, start at 1 and never go back (also across restarts). */
  lsn = 0;
  /** Current versions in LSN order: the container-wide change feed. */
  readonly all: FeedLog;
  /** Items and change feed per logical partition, so partition-scoped reads touch only their items. */
  readonly parts = new Map<string, Partition>();

  constructor(
    readonly docs: Documents,
    readonly dbRid: string,
    readonly collRid: string,
  ) {
    this.all = new FeedLog(this.isCurrent);
  }

  readonly isCurrent = (doc: CosmosDoc): boolean => this.docs._data.get(doc._rid)?.read() === doc;

  partition(key: string): Partition {
    let part = this.parts.get(key);
    if (!part) {
      part = { docs: new Map(), byType: new Map(), log: new FeedLog(this.isCurrent) };
      this.parts.set(key, part);
    }
    return part;
  }
}

interface Transaction {
  st: ContainerState;
  lsn: number;
  ridCount: number;
  undo: Array<() => void>;
  effects: Array<() => void>;
  ops: DocOp[];
}

export interface EngineOptions {
  /** Directory for the snapshot and journal; undefined keeps everything in memory. */
  dataDir?: string;
  /** How often expired items are purged (they are hidden from reads immediately). */
  ttlSweepMs?: number;
  /** Journal size that triggers a compaction into a new snapshot. */
  compactBytes?: number;
  /** Physical partition key ranges per container; default 1 (ranges.ts). */
  partitionRanges?: number;
}

export interface ChangeFeedRead {
  /** Return versions with LSN greater than this. */
  after: number;
  /** Only versions written at or after this time (ms since epoch). */
  since?: number;
  max: number;
  /** Present when the feed is scoped to one logical partition. */
  partition?: { value: unknown };
  /** Present when the feed is scoped to one partition key range: tests an item's partition value. */
  inRange?: (partitionValue: unknown) => boolean;
}

/**
 * The state behind one embedded Cosmos server: upstream's in-memory account, plus LSNs, change
 * feed, partition index, TTL, transactions and persistence, fed by the hooks in patches.ts.
 */
export class CosmosEngine implements EngineHooks {
  readonly account = new Account('127.0.0.1', 0);
  private readonly states = new WeakMap<Documents, ContainerState>();
  private readonly writeTimes = new WeakMap<CosmosDoc, number>();
  private readonly disk: DiskLog | undefined;
  private readonly compactBytes: number;
  private readonly ttlSweepMs: number;
  /** Every container's physical partition key ranges (ranges.ts): the same split for all. */
  readonly keyRanges: readonly KeyRange[];
  private txn: Transaction | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private compactPending = false;
  private closed = false;

  constructor(opts: EngineOptions = {}) {
    this.disk = opts.dataDir ? new DiskLog(opts.dataDir) : undefined;
    this.compactBytes = opts.compactBytes ?? 64 * 1024 * 1024;
    this.ttlSweepMs = opts.ttlSweepMs ?? 1000;
    this.keyRanges = rangesOf(opts.partitionRanges ?? 1);
  }

  /** Loads the data directory (and compacts it) and starts the TTL sweep. */
  open(): void {
    if (this.disk) {
      this.disk.load((record) => this.apply(record as JournalRecord));
      this.disk.rewrite(this.snapshot());
    }
    this.sweepTimer = setInterval(() => this.sweep(), this.ttlSweepMs);
    this.sweepTimer.unref();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.disk?.close();
  }

  // -------------------------------------------------------------------------------------------
  // Hooks called from the patched upstream write paths (see patches.ts P3–P5).

  docPut(docs: Documents, doc: CosmosDoc, prev: CosmosDoc | undefined): void {
    const st = this.stateFor(docs);
    const t = this.txn?.st === st ? this.txn : undefined;
    const now = Date.now();
    // As in Cosmos DB, every item a transactional batch writes gets the batch's one LSN.
    st.lsn = t ? t.lsn + 1 : st.lsn + 1;
    doc._lsn = st.lsn;
    this.writeTimes.set(doc, now);
    requestMeter.getStore()?.record({ prev, doc, policy: policyOf(docs) });
    const op: DocOp = ['p', doc, now];
    if (t) {
      t.effects.push(() => this.indexPut(st, doc, prev));
      t.undo.push(() => {
        raw.deleteDoc(docs, doc._rid);
        if (prev) raw.setDoc(docs, prev);
      });
      t.ops.push(op);
    } else {
      this.indexPut(st, doc, prev);
      this.journal({ t: 'docs', db: st.dbRid, c: st.collRid, rc: docs._ridCount, lsn: st.lsn, ops: [op] });
    }
  }

  docDelete(docs: Documents, prev: CosmosDoc, expired = false): void {
    const st = this.stateFor(docs);
    // TTL deletes are background work on the service, not charged to the request that noticed them.
    if (!expired) requestMeter.getStore()?.record({ prev, policy: policyOf(docs) });
    const t = this.txn?.st === st ? this.txn : undefined;
    const op: DocOp = ['d', prev._rid];
    if (t) {
      t.effects.push(() => this.indexDelete(st, prev));
      t.undo.push(() => raw.setDoc(docs, prev));
      t.ops.push(op);
    } else {
      this.indexDelete(st, prev);
      this.journal({ t: 'docs', db: st.dbRid, c: st.collRid, rc: docs._ridCount, lsn: st.lsn, ops: [op] });
    }
  }

  /**
   * Container `defaultTtl` switches TTL on (-1: items live until their own `ttl`); an item's `ttl`
   * (seconds, -1 = never) overrides it. Expiry counts from the last write.
   */
  isExpired(docs: Documents, doc: CosmosDoc): boolean {
    const defaultTtl: unknown = docs._parent.read()?.defaultTtl;
    if (typeof defaultTtl !== 'number') return false;
    const own: unknown = doc.ttl;
    const ttl = typeof own === 'number' && own !== 0 ? own : defaultTtl;
    if (ttl <= 0) return false;
    return Date.now() >= this.writeTimeOf(doc) + ttl * 1000;
  }

  databasePut(db: ItemObject): void {
    this.journal({ t: 'db', v: db, rc: this.account.databases._ridCount });
  }

  databaseDelete(rid: string): void {
    this.journal({ t: 'dbdel', rid });
  }

  collectionPut(collections: Collections, coll: ItemObject): void {
    this.journal({ t: 'coll', db: collections._parent.read()._rid, v: coll, rc: collections._ridCount });
  }

  collectionDelete(collections: Collections, rid: string): void {
    this.journal({ t: 'colldel', db: collections._parent.read()._rid, rid });
  }

  /** Container replace (R8): new properties on the same Collection object, so items stay. */
  replaceCollection(collections: Collections, coll: Collection, data: ItemObject): void {
    raw.setItemData(coll, data);
    this.collectionPut(collections, data);
  }

  // -------------------------------------------------------------------------------------------
  // Transactions (one container at a time; everything between begin and commit/rollback is sync).

  begin(docs: Documents): void {
    if (this.txn) throw new Error('embedded cosmos: nested transaction');
    const st = this.stateFor(docs);
    this.txn = { st, lsn: st.lsn, ridCount: docs._ridCount, undo: [], effects: [], ops: [] };
  }

  /** Publishes the writes to the feed/indexes and journals them as one record (atomic on disk). */
  commit(): void {
    const t = this.txn;
    if (!t) return;
    this.txn = undefined;
    for (const effect of t.effects) effect();
    if (t.ops.length) {
      const { st } = t;
      this.journal({
        t: 'docs',
        db: st.dbRid,
        c: st.collRid,
        rc: st.docs._ridCount,
        lsn: st.lsn,
        ops: t.ops,
      });
    }
  }

  /** Restores the items, the LSN counter and the rid counter as they were at `begin`. */
  rollback(): void {
    const t = this.txn;
    if (!t) return;
    this.txn = undefined;
    for (let i = t.undo.length - 1; i >= 0; i -= 1) (t.undo[i] as () => void)();
    t.st.lsn = t.lsn;
    t.st.docs._ridCount = t.ridCount;
  }

  // -------------------------------------------------------------------------------------------
  // Reads used by the handlers.

  currentLsn(docs: Documents): number {
    return this.stateFor(docs).lsn;
  }

  /**
   * Live, unexpired items of one logical partition (or of the whole container). With `type`, only
   * the items whose `type` property is that string: the caller has established that the query
   * cannot match any other item (handlers.ts typeFilterOf), so a partition's many pages are not
   * scanned by a query for its few participants, nor every page of every meeting by a
   * cross-partition query for states or presence documents.
   */
  queryInput(docs: Documents, partition?: { value: unknown }, type?: string): CosmosDoc[] {
    const out: CosmosDoc[] = [];
    if (partition) {
      const part = this.stateFor(docs).parts.get(partitionKeyOf(partition.value));
      if (part && type === undefined) {
        for (const doc of part.docs.values()) if (!this.isExpired(docs, doc)) out.push(doc);
      } else if (part) {
        // The index only narrows; the partition's own map stays the truth.
        for (const doc of part.byType.get(type!)?.values() ?? [])
          if (part.docs.get(doc._rid) === doc && doc.type === type && !this.isExpired(docs, doc))
            out.push(doc);
      }
    } else if (type === undefined) {
      for (const item of docs._data.values()) {
        const doc = item.read() as CosmosDoc;
        if (!this.isExpired(docs, doc)) out.push(doc);
      }
    } else {
      // Cross-partition (the tick's live meetings, the presence sweep): that type in every
      // partition, grouped by partition, instead of every item of the container.
      for (const part of this.stateFor(docs).parts.values())
        for (const doc of part.byType.get(type)?.values() ?? [])
          if (part.docs.get(doc._rid) === doc && doc.type === type && !this.isExpired(docs, doc))
            out.push(doc);
    }
    return out;
  }

  /** Latest versions changed after an LSN, in LSN order; `next` is the continuation LSN. */
  readChangeFeed(docs: Documents, read: ChangeFeedRead): { docs: CosmosDoc[]; next: number } {
    const st = this.stateFor(docs);
    const log = read.partition ? st.parts.get(partitionKeyOf(read.partition.value))?.log : st.all;
    const upTo = Math.max(read.after, st.lsn);
    if (!log) return { docs: [], next: upTo };
    const { since, inRange } = read;
    return log.read(
      read.after,
      read.max,
      (doc) =>
        !this.isExpired(docs, doc) &&
        (since === undefined || this.writeTimeOf(doc) >= since) &&
        (inRange === undefined || inRange(docs._getPartition(doc))),
      upTo,
    );
  }

  // -------------------------------------------------------------------------------------------

  private stateFor(docs: Documents): ContainerState {
    let st = this.states.get(docs);
    if (!st) {
      const collRid = docs._parent.read()._rid;
      let dbRid = '';
      for (const [rid, db] of this.account.databases._data) {
        if (db.collections._data.get(collRid)?.documents === docs) dbRid = rid;
      }
      st = new ContainerState(docs, dbRid, collRid);
      this.states.set(docs, st);
    }
    return st;
  }

  private writeTimeOf(doc: CosmosDoc): number {
    return this.writeTimes.get(doc) ?? doc._ts * 1000;
  }

  private indexPut(st: ContainerState, doc: CosmosDoc, prev: CosmosDoc | undefined): void {
    const key = partitionKeyOf(st.docs._getPartition(doc));
    const part = st.partition(key);
    if (prev) {
      st.all.superseded(prev);
      const prevKey = partitionKeyOf(st.docs._getPartition(prev));
      const prevPart = st.parts.get(prevKey);
      prevPart?.log.superseded(prev);
      if (prevKey !== key) prevPart?.docs.delete(prev._rid);
      // A same-type replace in place keeps its position (below), like the partition's own map.
      if (prevPart && (prevKey !== key || prev.type !== doc.type)) typeIndexDelete(prevPart, prev);
    }
    part.docs.set(doc._rid, doc);
    typeIndexPut(part, doc);
    part.log.push(doc);
    st.all.push(doc);
  }

  private indexDelete(st: ContainerState, prev: CosmosDoc): void {
    const key = partitionKeyOf(st.docs._getPartition(prev));
    const part = st.parts.get(key);
    if (part) {
      part.docs.delete(prev._rid);
      typeIndexDelete(part, prev);
      part.log.superseded(prev);
      if (part.docs.size === 0) st.parts.delete(key);
    }
    st.all.superseded(prev);
  }

  private journal(record: JournalRecord): void {
    const disk = this.disk;
    if (!disk || this.closed) return;
    disk.append(record);
    // Once the journal is as large as the snapshot (and at least compactBytes): rewriting the
    // snapshot every compactBytes made the cost grow with the data (a 450 MB snapshot rewritten,
    // synchronously, every 64 MiB of journal in the 10-minute soak); this keeps it amortised
    // linear, at most one snapshot's worth of writing per snapshot's worth of journal.
    if (disk.walBytes > Math.max(this.compactBytes, disk.snapshotBytes) && !this.compactPending) {
      this.compactPending = true;
      // Outside the current request's synchronous section (never in the middle of a batch).
      setImmediate(() => {
        this.compactPending = false;
        if (!this.closed) disk.rewrite(this.snapshot());
      });
    }
  }

  private sweep(): void {
    if (this.txn) return;
    for (const db of this.account.databases._data.values()) {
      for (const coll of db.collections._data.values()) {
        if (typeof coll.read()?.defaultTtl !== 'number') continue;
        const docs = coll.documents;
        // Deleting from a Map while iterating it is safe in JS.
        for (const item of docs._data.values()) {
          const doc = item.read() as CosmosDoc;
          if (this.isExpired(docs, doc)) {
            raw.deleteDoc(docs, doc._rid);
            this.docDelete(docs, doc, true);
          }
        }
      }
    }
  }

  private database(rid: string): Database | undefined {
    return this.account.databases._data.get(rid);
  }

  private collection(dbRid: string, collRid: string): Collection | undefined {
    return this.database(dbRid)?.collections._data.get(collRid);
  }

  /** Replays one journal/snapshot record onto upstream's structures without any hooks. */
  private apply(record: JournalRecord): void {
    const dbs = this.account.databases;
    switch (record.t) {
      case 'db': {
        const existing = dbs._data.get(record.v._rid);
        if (existing) raw.setItemData(existing, record.v);
        else raw.withHooksSuppressed(() => dbs._set(record.v));
        dbs._ridCount = Math.max(dbs._ridCount, record.rc);
        break;
      }
      case 'dbdel':
        if (dbs._data.has(record.rid)) raw.withHooksSuppressed(() => dbs.delete(record.rid, record.rid));
        break;
      case 'coll': {
        const colls = this.database(record.db)?.collections;
        if (!colls) break;
        const existing = colls._data.get(record.v._rid);
        if (existing) raw.setItemData(existing, record.v);
        else raw.withHooksSuppressed(() => colls._set(record.v));
        colls._ridCount = Math.max(colls._ridCount, record.rc);
        break;
      }
      case 'colldel': {
        const colls = this.database(record.db)?.collections;
        if (colls?._data.has(record.rid)) raw.withHooksSuppressed(() => colls.delete(record.rid, record.rid));
        break;
      }
      case 'docs': {
        const coll = this.collection(record.db, record.c);
        if (!coll) break;
        const docs = coll.documents;
        const st = this.stateFor(docs);
        for (const op of record.ops) {
          if (op[0] === 'p') {
            const [, doc, writtenAt] = op;
            const prev = raw.getDoc(docs, doc._rid);
            if (prev) raw.deleteDoc(docs, prev._rid);
            raw.setDoc(docs, doc);
            this.writeTimes.set(doc, writtenAt);
            this.indexPut(st, doc, prev);
          } else {
            const prev = raw.getDoc(docs, op[1]);
            if (!prev) continue;
            raw.deleteDoc(docs, prev._rid);
            this.indexDelete(st, prev);
          }
        }
        st.lsn = Math.max(st.lsn, record.lsn);
        docs._ridCount = Math.max(docs._ridCount, record.rc);
        break;
      }
    }
  }

  /** The whole state as journal records; items in LSN order so the feed order is rebuilt exactly. */
  private *snapshot(): Generator<JournalRecord> {
    const dbs = this.account.databases;
    for (const db of dbs._data.values()) {
      const dbData = db.read();
      yield { t: 'db', v: dbData, rc: dbs._ridCount };
      for (const coll of db.collections._data.values()) {
        const collData = coll.read();
        yield { t: 'coll', db: dbData._rid, v: collData, rc: db.collections._ridCount };
        const docs = coll.documents;
        const st = this.stateFor(docs);
        const items = [...docs._data.values()].map((item) => item.read() as CosmosDoc);
        items.sort((a, b) => (a._lsn ?? 0) - (b._lsn ?? 0));
        const base = {
          t: 'docs',
          db: dbData._rid,
          c: collData._rid,
          rc: docs._ridCount,
          lsn: st.lsn,
        } as const;
        if (!items.length) yield { ...base, ops: [] };
        for (let i = 0; i < items.length; i += 500) {
          const ops = items.slice(i, i + 500).map((doc): DocOp => ['p', doc, this.writeTimeOf(doc)]);
          yield { ...base, ops };
        }
      }
    }
  }
}

function policyOf(docs: Documents): IndexingPolicy | undefined {
  return docs._parent.read()?.indexingPolicy as IndexingPolicy | undefined;
}

function typeIndexPut(part: Partition, doc: CosmosDoc): void {
  const type: unknown = doc.type;
  if (typeof type !== 'string') return;
  let bucket = part.byType.get(type);
  if (!bucket) part.byType.set(type, (bucket = new Map()));
  bucket.set(doc._rid, doc);
}

function typeIndexDelete(part: Partition, doc: CosmosDoc): void {
  const type: unknown = doc.type;
  if (typeof type !== 'string') return;
  const bucket = part.byType.get(type);
  if (!bucket) return;
  bucket.delete(doc._rid);
  if (bucket.size === 0) part.byType.delete(type);
}
