/**
 * ESTIMATED request charges (request units, RU) for the embedded Cosmos DB, from Cosmos DB's
 * published request-unit model. The service's real charges depend on things no local server can
 * know (its storage encoding, query engine, region count, consistency); these figures exist so
 * that local runs show what a change costs relative to another, never as a bill. Sources and the
 * choices made where they are silent are in README.md ("Request charge (estimate)").
 *
 * Pure: sizes, documents and indexing policies in, RU out. The server and handlers decide which
 * function answers which request.
 */
import { type IndexingPolicy, isRangeIndexed } from './rules';

const KB = 1024;

/**
 * [document size in KB, point read RU, write RU] from "Understand request units consumption in
 * Azure Cosmos DB" (learn.microsoft.com, ms.date 2026-04-21), the table "Document size". The write
 * column is the size-based part of a write: the same page's worked examples use "5.0 (document
 * size based)" for a 1 KB create and add the indexed terms on top.
 */
const SIZE_TABLE: readonly (readonly [kb: number, read: number, write: number])[] = [
  [1, 1.0, 4.95],
  [2, 1.04, 6.29],
  [4, 1.14, 6.67],
  [8, 1.33, 7.04],
  [16, 1.67, 9.52],
  [32, 2.19, 11.23],
  [64, 4.76, 22.67],
  [128, 9.95, 48.19],
  [256, 20.28, 98.29],
  [512, 40.95, 184.57],
  [1024, 145.9, 625.0],
  [2048, 291.8, 1250.0],
];

/** Per indexed term inserted or removed by a write (same page: "0.2 × 10 (indexing)"). */
export const INDEX_TERM_RU = 0.2;
/** Per patched property on top of a replace (same page: "0.4 * 2 (base charge for patch)"). */
export const PATCH_PROPERTY_RU = 0.4;
/**
 * Base charge of one query page (one partition key range answering): "Query an Azure Cosmos DB
 * container" documents a minimum of about 2.5 RU each time a physical partition's index is checked.
 */
export const QUERY_PAGE_RU = 2.5;
/**
 * A change-feed or read-feed page with nothing in it, a failed request, and a metadata request
 * (account, database, container, partition key ranges). No published figure: 1 RU, the charge of
 * the smallest point read, so polling and errors are visible but never dominate.
 */
export const MIN_REQUEST_RU = 1;

/** System properties the service adds; not counted as indexed terms (see README). */
const SYSTEM_PROPERTIES = new Set(['_rid', '_self', '_etag', '_attachments', '_ts', '_lsn']);

/** Cosmos DB reports charges with two decimals. */
export function roundCharge(ru: number): number {
  return Math.round(ru * 100) / 100;
}

/** Piecewise-linear in the published table; at most 1 KB costs the 1 KB row (the smallest charge). */
function fromTable(bytes: number, column: 1 | 2): number {
  const kb = Math.max(bytes, 0) / KB;
  const first = SIZE_TABLE[0]!;
  if (kb <= first[0]) return first[column];
  for (let i = 1; i < SIZE_TABLE.length; i += 1) {
    const lo = SIZE_TABLE[i - 1]!;
    const hi = SIZE_TABLE[i]!;
    if (kb <= hi[0] || i === SIZE_TABLE.length - 1) {
      // Past the last row (larger than Cosmos allows anyway) the last segment's slope continues.
      return lo[column] + ((kb - lo[0]) * (hi[column] - lo[column])) / (hi[0] - lo[0]);
    }
  }
  return first[column]; // unreachable: the loop returns on its last row
}

/** Point read of an item persisted as `bytes`. */
export function pointReadCharge(bytes: number): number {
  return fromTable(bytes, 1);
}

/** The size-based part of writing (or deleting) an item persisted as `bytes`. */
export function writeSizeCharge(bytes: number): number {
  return fromTable(bytes, 2);
}

/** The persisted size of an item: its JSON with the service's system properties, without our `_lsn`. */
export function itemBytes(doc: unknown): number {
  if (doc !== null && typeof doc === 'object' && !Array.isArray(doc) && '_lsn' in doc) {
    const { _lsn: _ignored, ...rest } = doc as Record<string, unknown>;
    return Buffer.byteLength(JSON.stringify(rest), 'utf8');
  }
  return Buffer.byteLength(JSON.stringify(doc) ?? '', 'utf8');
}

/**
 * The terms the indexing policy puts in the index for an item: one per distinct (path, scalar
 * value) pair, array elements under `[]` as in index paths (`/tags/[]`). The service's index is
 * inverted, so a value repeated in an array is one term. Objects and arrays themselves are not
 * terms; their scalar leaves are.
 */
export function indexedTerms(doc: unknown, policy: IndexingPolicy | undefined): Set<string> {
  const terms = new Set<string>();
  const decided = new Map<string, boolean>();
  const indexed = (path: string): boolean => {
    let yes = decided.get(path);
    if (yes === undefined) decided.set(path, (yes = isRangeIndexed(policy, path)));
    return yes;
  };
  const walk = (value: unknown, path: string): void => {
    if (Array.isArray(value)) {
      for (const v of value) walk(v, `${path}/[]`);
    } else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) walk(v, `${path}/${k}`);
    } else if (value !== undefined && indexed(path)) {
      terms.add(`${path}=${JSON.stringify(value)}`);
    }
  };
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return terms;
  for (const [k, v] of Object.entries(doc)) if (!SYSTEM_PROPERTIES.has(k)) walk(v, `/${k}`);
  return terms;
}

/** Scalar leaves by path (array elements by position), for counting what a patch changed. */
function leaves(doc: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (value: unknown, path: string): void => {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}/${i}`));
    else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) walk(v, `${path}/${k}`);
    } else if (value !== undefined) out.set(path, JSON.stringify(value));
  };
  if (doc !== null && typeof doc === 'object' && !Array.isArray(doc)) {
    for (const [k, v] of Object.entries(doc)) if (!SYSTEM_PROPERTIES.has(k)) walk(v, `/${k}`);
  }
  return out;
}

function countMissing(from: Set<string>, inSet: Set<string>): number {
  let n = 0;
  for (const t of from) if (!inSet.has(t)) n += 1;
  return n;
}

/** Create: insert the document + insert each indexed term. */
export function createCharge(doc: unknown, policy: IndexingPolicy | undefined): number {
  return roundCharge(writeSizeCharge(itemBytes(doc)) + INDEX_TERM_RU * indexedTerms(doc, policy).size);
}

/**
 * Replace (and an upsert that replaces): delete the old document + insert the new one + remove the
 * index terms that changed + insert their new values. With `patch`, plus the per-property patch
 * charge; the patched properties are counted as the scalar leaves whose value changed (at least
 * one), since the upstream patch handler does not report its operation count.
 */
export function replaceCharge(
  prev: unknown,
  next: unknown,
  policy: IndexingPolicy | undefined,
  patch = false,
): number {
  const before = indexedTerms(prev, policy);
  const after = indexedTerms(next, policy);
  let ru =
    writeSizeCharge(itemBytes(prev)) +
    writeSizeCharge(itemBytes(next)) +
    INDEX_TERM_RU * (countMissing(before, after) + countMissing(after, before));
  if (patch) ru += PATCH_PROPERTY_RU * Math.max(1, changedLeaves(prev, next));
  return roundCharge(ru);
}

/** Scalar paths added, removed or given another value between two versions of an item. */
export function changedLeaves(prev: unknown, next: unknown): number {
  const a = leaves(prev);
  const b = leaves(next);
  let n = 0;
  for (const [path, v] of a) if (b.get(path) !== v) n += 1;
  for (const path of b.keys()) if (!a.has(path)) n += 1;
  return n;
}

/** Delete: remove the document + remove each of its indexed terms. */
export function deleteCharge(prev: unknown, policy: IndexingPolicy | undefined): number {
  return roundCharge(writeSizeCharge(itemBytes(prev)) + INDEX_TERM_RU * indexedTerms(prev, policy).size);
}

/**
 * A change-feed or read-feed page: "processing five 1-KB documents through a feed consumes
 * approximately the same RUs as reading those five documents individually", so one point read per
 * item returned; an empty page costs the minimum.
 */
export function feedPageCharge(itemSizes: readonly number[]): number {
  if (itemSizes.length === 0) return MIN_REQUEST_RU;
  let ru = 0;
  for (const b of itemSizes) ru += pointReadCharge(b);
  return roundCharge(ru);
}

/**
 * One query page: the per-range base plus what it returns, one point read per returned KB
 * ("if a query returns 1000 1-KB items, the cost of the operation is 1000") and the size table
 * above 1 KB; results smaller than 1 KB (projections, aggregates) are charged pro rata, not a
 * whole point read each. Items scanned but not returned are not charged (see README).
 */
export function queryPageCharge(resultSizes: readonly number[]): number {
  let ru = QUERY_PAGE_RU;
  for (const b of resultSizes) ru += b < KB ? b / KB : pointReadCharge(b);
  return roundCharge(ru);
}

/** What a write request did to one item, as the engine saw it. */
export interface ItemWrite {
  /** The version before the write; absent for a create. */
  prev?: unknown;
  /** The version written; absent for a delete. */
  doc?: unknown;
}

/** The charge of one item write under the container's policy; `patch` when it came from a patch. */
export function itemWriteCharge(write: ItemWrite, policy: IndexingPolicy | undefined, patch = false): number {
  if (write.doc !== undefined && write.prev !== undefined)
    return replaceCharge(write.prev, write.doc, policy, patch);
  if (write.doc !== undefined) return createCharge(write.doc, policy);
  if (write.prev !== undefined) return deleteCharge(write.prev, policy);
  return 0;
}
