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
import type { IndexingPolicy } from './rules';

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

/** Sizes of stored versions, which are never changed once written (the feed keeps them). */
const sizes = new WeakMap<object, number>();

/** The persisted size of an item: its JSON with the service's system properties, without our `_lsn`. */
export function itemBytes(doc: unknown): number {
  if (doc === null || typeof doc !== 'object') return Buffer.byteLength(JSON.stringify(doc) ?? '', 'utf8');
  let n = sizes.get(doc);
  if (n === undefined) {
    let json: string;
    if (!Array.isArray(doc) && '_lsn' in doc) {
      const { _lsn: _ignored, ...rest } = doc as Record<string, unknown>;
      json = JSON.stringify(rest);
    } else json = JSON.stringify(doc);
    n = Buffer.byteLength(json, 'utf8');
    sizes.set(doc, n);
  }
  return n;
}

interface IndexPattern {
  /** Path segments before the final `?` or `*`, unquoted (`/"a b"/*` → ['a b']). */
  segs: string[];
  /** `/*`: this path and everything below it; `/?`: the scalar at exactly this path. */
  wildcard: boolean;
  include: boolean;
}

/**
 * An indexing policy compiled for walking documents. Decides as `rules.ts` `isRangeIndexed` does
 * for ORDER BY (the most precise path wins, an exclusion wins a tie; no paths = everything; mode
 * "none" = nothing), and can tell when a whole subtree is decided alike, so a large excluded (or
 * wholly included) subtree is counted without deciding each of its leaves.
 */
class IndexRule {
  private constructor(
    /** undefined: everything is indexed. */
    private readonly patterns: IndexPattern[] | undefined,
    readonly none: boolean,
  ) {}

  private static readonly cache = new WeakMap<IndexingPolicy, IndexRule>();
  private static readonly everything = new IndexRule(undefined, false);

  static of(policy: IndexingPolicy | undefined): IndexRule {
    if (!policy) return IndexRule.everything;
    let rule = IndexRule.cache.get(policy);
    if (!rule) {
      const none = (policy.indexingMode ?? 'consistent').toLowerCase() === 'none';
      const inc = policy.includedPaths ?? [];
      const exc = policy.excludedPaths ?? [];
      const patterns: IndexPattern[] = [];
      const add = (list: Array<{ path?: string }>, include: boolean): void => {
        for (const { path = '' } of list) {
          const wildcard = path.endsWith('/*');
          if (!wildcard && !path.endsWith('/?')) continue; // not a valid index path: matches nothing
          const segs = path
            .slice(0, -2)
            .split('/')
            .slice(1)
            .map((seg) => seg.replace(/^"(.*)"$/, '$1'));
          patterns.push({ segs, wildcard, include });
        }
      };
      add(inc, true);
      add(exc, false);
      rule = new IndexRule(inc.length === 0 && exc.length === 0 ? undefined : patterns, none);
      IndexRule.cache.set(policy, rule);
    }
    return rule;
  }

  /** Whether the scalar at `segs` is indexed. */
  leaf(segs: readonly string[]): boolean {
    if (this.none) return false;
    if (!this.patterns) return true;
    let inc = -1;
    let exc = -1;
    for (const p of this.patterns) {
      let score = -1;
      if (p.wildcard) {
        if (p.segs.length <= segs.length && startsWith(segs, p.segs)) score = p.segs.length + 1;
      } else if (p.segs.length === segs.length && startsWith(segs, p.segs)) score = 1000;
      if (p.include) inc = Math.max(inc, score);
      else exc = Math.max(exc, score);
    }
    return inc >= 0 && inc > exc;
  }

  /** For an object or array at `segs`: whether every scalar below it is indexed, or undefined if that varies. */
  below(segs: readonly string[]): boolean | undefined {
    if (this.none) return false;
    if (!this.patterns) return true;
    let inc = -1;
    let exc = -1;
    for (const p of this.patterns) {
      // A path deeper than this one decides part of the subtree differently.
      if (p.segs.length > segs.length && startsWith(p.segs, segs)) return undefined;
      if (!p.wildcard || !startsWith(segs, p.segs)) continue;
      if (p.include) inc = Math.max(inc, p.segs.length + 1);
      else exc = Math.max(exc, p.segs.length + 1);
    }
    return inc >= 0 && inc > exc;
  }
}

function startsWith(segs: readonly string[], prefix: readonly string[]): boolean {
  for (let i = 0; i < prefix.length; i += 1) {
    // `[]` (every element of an array) is a segment in index paths and in ours alike.
    if (prefix[i] !== segs[i]) return false;
  }
  return true;
}

/** An item's own top-level properties, without the system ones (never counted as terms). */
function userProperties(doc: unknown): Array<[string, unknown]> {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return [];
  return Object.entries(doc).filter(([k]) => !SYSTEM_PROPERTIES.has(k));
}

function isContainer(v: unknown): v is Record<string, unknown> | unknown[] {
  return v !== null && typeof v === 'object';
}

/** Scalar leaves below a value (a scalar is one leaf; `undefined` none). */
function leafCount(value: unknown): number {
  if (value === undefined) return 0;
  if (!isContainer(value)) return 1;
  let n = 0;
  if (Array.isArray(value)) for (const v of value) n += leafCount(v);
  else for (const k in value) n += leafCount(value[k]);
  return n;
}

/** Indexed scalar leaves below `value`, which sits at `segs` (mutated during the walk, restored). */
function termCount(value: unknown, segs: string[], rule: IndexRule): number {
  if (value === undefined) return 0;
  if (!isContainer(value)) return rule.leaf(segs) ? 1 : 0;
  const uniform = rule.below(segs);
  if (uniform !== undefined) return uniform ? leafCount(value) : 0;
  let n = 0;
  if (Array.isArray(value)) {
    segs.push('[]');
    for (const v of value) n += termCount(v, segs, rule);
  } else {
    segs.push('');
    for (const k in value) {
      segs[segs.length - 1] = k;
      n += termCount(value[k], segs, rule);
    }
  }
  segs.pop();
  return n;
}

/**
 * What changed between two versions below `segs`: with a rule, indexed terms removed + added (a
 * changed indexed scalar is one of each); without, changed scalar paths (a changed scalar is one).
 * Arrays are compared by position, so an element inserted at the front changes every later term (an
 * overestimate: the service's index is by value).
 */
function diffCount(a: unknown, b: unknown, segs: string[], rule: IndexRule | undefined): number {
  if (a === b) return 0;
  const count = (v: unknown): number => (rule ? termCount(v, segs, rule) : leafCount(v));
  if (!isContainer(a) || !isContainer(b) || Array.isArray(a) !== Array.isArray(b)) {
    if (!rule && !isContainer(a) && !isContainer(b) && a !== undefined && b !== undefined) return 1;
    return count(a) + count(b);
  }
  if (rule && rule.below(segs) === false) return 0;
  let n = 0;
  if (Array.isArray(a) && Array.isArray(b)) {
    segs.push('[]');
    const len = Math.max(a.length, b.length);
    for (let i = 0; i < len; i += 1) n += diffCount(a[i], b[i], segs, rule);
  } else {
    const x = a as Record<string, unknown>;
    const y = b as Record<string, unknown>;
    segs.push('');
    for (const k in x) {
      segs[segs.length - 1] = k;
      n += diffCount(x[k], k in y ? y[k] : undefined, segs, rule);
    }
    for (const k in y) {
      if (k in x) continue;
      segs[segs.length - 1] = k;
      n += diffCount(undefined, y[k], segs, rule);
    }
  }
  segs.pop();
  return n;
}

function rootDiff(prev: unknown, next: unknown, rule: IndexRule | undefined): number {
  const a = new Map(userProperties(prev));
  const b = new Map(userProperties(next));
  let n = 0;
  for (const [k, v] of a) n += diffCount(v, b.get(k), [k], rule);
  for (const [k, v] of b) if (!a.has(k)) n += diffCount(undefined, v, [k], rule);
  return n;
}

/**
 * The index terms the container's policy creates for an item: one per indexed scalar leaf (array
 * elements under `[]`, as in index paths: `/tags/[]/?`). Objects and arrays themselves are not
 * terms; system properties are not counted.
 */
export function indexedTermCount(doc: unknown, policy: IndexingPolicy | undefined): number {
  const rule = IndexRule.of(policy);
  let n = 0;
  for (const [k, v] of userProperties(doc)) n += termCount(v, [k], rule);
  return n;
}

/** Create: insert the document + insert each indexed term. */
export function createCharge(doc: unknown, policy: IndexingPolicy | undefined): number {
  return roundCharge(writeSizeCharge(itemBytes(doc)) + INDEX_TERM_RU * indexedTermCount(doc, policy));
}

/**
 * Replace (and an upsert that replaces): delete the old document + insert the new one + remove the
 * index terms that changed + insert their new values. With `patch`, plus the per-property patch
 * charge; the patched properties are counted as the scalar paths whose value changed (at least
 * one), since the upstream patch handler does not report its operation count.
 */
export function replaceCharge(
  prev: unknown,
  next: unknown,
  policy: IndexingPolicy | undefined,
  patch = false,
): number {
  let ru =
    writeSizeCharge(itemBytes(prev)) +
    writeSizeCharge(itemBytes(next)) +
    INDEX_TERM_RU * rootDiff(prev, next, IndexRule.of(policy));
  if (patch) ru += PATCH_PROPERTY_RU * Math.max(1, changedLeaves(prev, next));
  return roundCharge(ru);
}

/** Scalar paths added, removed or given another value between two versions of an item. */
export function changedLeaves(prev: unknown, next: unknown): number {
  return rootDiff(prev, next, undefined);
}

/** Delete: remove the document + remove each of its indexed terms. */
export function deleteCharge(prev: unknown, policy: IndexingPolicy | undefined): number {
  return roundCharge(writeSizeCharge(itemBytes(prev)) + INDEX_TERM_RU * indexedTermCount(prev, policy));
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
