/**
 * Every way the embedded Cosmos DB deviates from upstream `@vercel/cosmosdb-server@1.0.1` (and the
 * `@zeit/cosmosdb-query@0.7.2` engine it uses) is declared in this module. Read this file to know
 * what differs from upstream; the replacement behaviour itself lives in engine.ts / handlers.ts.
 *
 * Patches of upstream internals (installed once per process by `installUpstreamPatches`):
 *  P1. Query engine: `FROM c` (and every JOIN) compiles to `reduce(($, c) => [...$, {c}], [])`, which
 *      copies the accumulator per document: O(N²), 28 s at 50k items. The generated JS AST is
 *      rewritten to append in place (`$h.appendTo($, [...])`) before code generation.
 *  P2. `helpers.stripUndefined` (run on every result page) had the same spread-accumulate pattern.
 *  P3. Document write choke point: `Documents.create/replace/delete` (which every create, replace,
 *      upsert, patch, batch op and delete goes through) report each committed change to the engine
 *      active for the request, which assigns the LSN (`_lsn`), indexes the item by partition, appends
 *      it to the change feed, journals it to disk and records undo info for transactional batches.
 *  P4. TTL: `Documents._item` (the lookup behind every point operation) treats an expired item as
 *      absent and purges it.
 *  P5. `Databases/Collections.create/delete` report to the engine so databases and containers persist.
 *  P6. Service rules upstream lacks (rules.ts): item `ttl` and container `defaultTtl` validated;
 *      hierarchical partition keys and computed properties refused as not supported locally; an
 *      object or array at the partition key path is the "None" partition (`[{}]`), not a key
 *      "[object Object]"; a single-property ORDER BY on a path the indexing policy excludes is
 *      refused; `x-ms-indexing-directive` is refused as not supported locally.
 *
 * Requests answered by our handlers instead of upstream's (`overrideFor`, see handlers.ts):
 *  R1. GET /                 — advertise http:// endpoints (upstream: https → SDK fails with EPROTO).
 *  R2. POST …/docs (query)   — honour the partition-key header, skip expired items, answer
 *                              query-plan requests without executing the query.
 *  R3. GET …/docs/{id}       — 404 instead of a TypeError 500 for a missing item; If-None-Match → 304.
 *  R4. GET …/docs + A-IM     — a real incremental change feed (upstream: everything once, then 304).
 *  R5. GET …/docs (read feed) — partition scoping and TTL like R2.
 *  R6. POST …/docs (batch)   — atomic transactional batch with 424s, Patch ops, and non-atomic bulk.
 *  R7. GET …/pkranges        — `partitionRanges` ranges ("0".."N-1", ranges.ts); change feeds and
 *                              read feeds scoped to a range return only its items; a fanned-out
 *                              query is answered whole by range "0" and empty by the others.
 *  R8. PUT …/colls/{id}      — replace container properties in place (upstream dropped all items).
 * And for every request: a missing database/container answers 404 before upstream code runs
 * (several upstream handlers throw TypeErrors → 500 in that case); every response about a
 * container's items carries the service's `lsn` and `x-ms-session-token` headers, and every response
 * an ESTIMATED `x-ms-request-charge` (requestCharge.ts; upstream always answered 1).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { IncomingHttpHeaders } from 'node:http';
import Collections from '@vercel/cosmosdb-server/lib/account/collections';
import Databases from '@vercel/cosmosdb-server/lib/account/databases';
import Documents from '@vercel/cosmosdb-server/lib/account/documents';
import Items from '@vercel/cosmosdb-server/lib/account/items';
import type Item from '@vercel/cosmosdb-server/lib/account/item';
import type ItemObject from '@vercel/cosmosdb-server/lib/account/item-object';
import { checkContainer, checkItem, partitionValueOf } from './rules';

/** A stored item as upstream keeps it (plus our `_lsn`). */
export interface CosmosDoc extends ItemObject {
  _etag: string;
  _ts: number;
  _lsn?: number;
}

/** What the engine active for a request is told by the patched upstream internals. */
export interface EngineHooks {
  docPut(docs: Documents, doc: CosmosDoc, prev: CosmosDoc | undefined): void;
  /** `expired`: a TTL expiry, not a delete anyone asked for. */
  docDelete(docs: Documents, prev: CosmosDoc, expired?: boolean): void;
  isExpired(docs: Documents, doc: CosmosDoc): boolean;
  databasePut(db: ItemObject): void;
  databaseDelete(rid: string): void;
  collectionPut(collections: Collections, coll: ItemObject): void;
  collectionDelete(collections: Collections, rid: string): void;
}

/**
 * The engine serving the current request. Several servers may run in one process (tests), and the
 * patches are on shared prototypes, so the hooks are found through the async context of the request.
 */
export const activeEngine = new AsyncLocalStorage<EngineHooks>();

type AnyFn = (this: unknown, ...args: unknown[]) => unknown;
type ProtoOf = Record<string, AnyFn>;

const itemsProto = Items.prototype as unknown as ProtoOf;
const docsProto = Documents.prototype as unknown as ProtoOf;
const collsProto = Collections.prototype as unknown as ProtoOf;
const dbsProto = Databases.prototype as unknown as ProtoOf;

// Upstream implementations, captured before patching (these are inherited from Items).
const original = {
  create: itemsProto.create as AnyFn,
  replace: itemsProto.replace as AnyFn,
  delete: itemsProto.delete as AnyFn,
  item: itemsProto._item as AnyFn,
  set: itemsProto._set as AnyFn,
  getPartition: itemsProto._getPartition as AnyFn,
};

/** > 0 while we run upstream code for our own bookkeeping (replace's inner delete, undo, replay). */
let suppressed = 0;

function withHooksSuppressed<T>(fn: () => T): T {
  suppressed += 1;
  try {
    return fn();
  } finally {
    suppressed -= 1;
  }
}

function hooks(): EngineHooks | undefined {
  return suppressed === 0 ? activeEngine.getStore() : undefined;
}

/** Upstream storage operations that bypass all hooks: used for replay, rollback and TTL purge. */
export const raw = {
  setDoc(docs: Documents, doc: CosmosDoc): void {
    withHooksSuppressed(() => original.set.call(docs, doc));
  },
  /** Delete by `_rid` (upstream falls back to treating the key as a rid when no id matches). */
  deleteDoc(docs: Documents, rid: string): void {
    withHooksSuppressed(() => {
      if (docs._data.has(rid)) original.delete.call(docs, rid, rid);
    });
  },
  getDoc(docs: Documents, rid: string): CosmosDoc | undefined {
    return (docs._data.get(rid)?.read() ?? undefined) as CosmosDoc | undefined;
  },
  /** Lookup by id within a partition, as upstream's own point operations do, without TTL checks. */
  findDoc(docs: Documents, id: string, partition: unknown): CosmosDoc | undefined {
    return withHooksSuppressed(
      () =>
        ((original.item.call(docs, '/id', id, partition) as Item).read() ?? undefined) as
          CosmosDoc | undefined,
    );
  },
  setItemData(item: Item, data: ItemObject): void {
    item._data = data;
  },
  withHooksSuppressed,
};

// ---------------------------------------------------------------------------------------------
// P1 + P2: query engine.

interface JsNode {
  type: string;
  [key: string]: unknown;
}

const queryRequire = createRequire(require.resolve('@vercel/cosmosdb-server/package.json'));
const queryLibDir = path.join(path.dirname(queryRequire.resolve('@zeit/cosmosdb-query/package.json')), 'lib');
const transformerModule = queryRequire(path.join(queryLibDir, 'transformer.js')) as {
  default: (ast: unknown) => JsNode;
};
const helpersModule = queryRequire(path.join(queryLibDir, 'helpers.js')) as Record<string, unknown>;

const isNode = (v: unknown): v is JsNode => typeof v === 'object' && v !== null && 'type' in v;
const isIdent = (v: unknown, name: string): boolean =>
  isNode(v) && v.type === 'Identifier' && v.name === name;

/** `X.reduce(($, …) => …, [])`: the shape the transformer emits for FROM/JOIN accumulation. */
function isAccumulatingReduce(node: JsNode): boolean {
  if (node.type !== 'CallExpression') return false;
  const callee = node.callee;
  const args = node.arguments as unknown[];
  if (!isNode(callee) || callee.type !== 'MemberExpression' || !isIdent(callee.property, 'reduce'))
    return false;
  const [fn, init] = args;
  return (
    args.length === 2 &&
    isNode(fn) &&
    fn.type === 'ArrowFunctionExpression' &&
    isIdent((fn.params as unknown[])[0], '$') &&
    isNode(init) &&
    init.type === 'ArrayExpression' &&
    (init.elements as unknown[]).length === 0
  );
}

/** `[...$, a, ...b]` → `$h.appendTo($, [a, ...b])`; recurses into `cond ? … : …`. */
function appendInPlace(body: JsNode): JsNode {
  if (body.type === 'ConditionalExpression') {
    return {
      ...body,
      consequent: appendInPlace(body.consequent as JsNode),
      alternate: appendInPlace(body.alternate as JsNode),
    };
  }
  if (body.type === 'ArrayExpression') {
    const [first, ...rest] = body.elements as unknown[];
    if (isNode(first) && first.type === 'SpreadElement' && isIdent(first.argument, '$')) {
      return {
        type: 'CallExpression',
        callee: {
          type: 'MemberExpression',
          object: { type: 'Identifier', name: '$h' },
          property: { type: 'Identifier', name: 'appendTo' },
          computed: false,
        },
        arguments: [
          { type: 'Identifier', name: '$' },
          { type: 'ArrayExpression', elements: rest },
        ],
      };
    }
  }
  return body;
}

function rewriteAccumulators(node: unknown): void {
  if (Array.isArray(node)) {
    for (const child of node) rewriteAccumulators(child);
    return;
  }
  if (!isNode(node)) return;
  if (isAccumulatingReduce(node)) {
    const fn = (node.arguments as JsNode[])[0] as JsNode;
    fn.body = appendInPlace(fn.body as JsNode);
  }
  for (const key of Object.keys(node)) {
    if (key !== 'type') rewriteAccumulators(node[key]);
  }
}

function appendTo(acc: unknown[], items: unknown[]): unknown[] {
  for (const item of items) acc.push(item);
  return acc;
}

function stripUndefined(value: unknown): unknown {
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const v of value) if (v !== undefined) out.push(stripUndefined(v));
    return out;
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = stripUndefined(v);
    }
    return out;
  }
  return value;
}

function patchQueryEngine(): void {
  const transform = transformerModule.default;
  // index.js calls `transformer_1.default(ast)` at compile time, so swapping the export is enough.
  transformerModule.default = (ast: unknown) => {
    const js = transform(ast);
    rewriteAccumulators(js);
    return js;
  };
  helpersModule.appendTo = appendTo;
  helpersModule.stripUndefined = stripUndefined;
}

// ---------------------------------------------------------------------------------------------
// P3 + P4: document choke point and TTL.

function patchDocuments(): void {
  docsProto._getPartition = function getPartition(this: unknown, data: unknown) {
    return partitionValueOf(original.getPartition.call(this, data));
  };
  docsProto.create = function create(this: unknown, data: unknown) {
    if (hooks()) checkItem(data);
    const doc = original.create.call(this, data) as CosmosDoc;
    hooks()?.docPut(this as Documents, doc, undefined);
    return doc;
  };
  docsProto.replace = function replace(this: unknown, data: unknown, originalDoc: unknown) {
    const docs = this as Documents;
    const h = hooks();
    if (h) checkItem(data);
    const prevData = data as CosmosDoc;
    const prev = h ? raw.findDoc(docs, prevData.id, docs._getPartition(prevData)) : undefined;
    // Upstream replace is delete + set; its inner delete must not be reported as a delete.
    const doc = withHooksSuppressed(() => original.replace.call(docs, data, originalDoc)) as CosmosDoc;
    h?.docPut(docs, doc, prev);
    return doc;
  };
  docsProto.delete = function del(this: unknown, idOrRid: unknown, partition: unknown) {
    const docs = this as Documents;
    const h = hooks();
    const prev = h ? raw.findDoc(docs, idOrRid as string, partition) : undefined;
    const result = withHooksSuppressed(() => original.delete.call(docs, idOrRid, partition));
    if (h && prev) h.docDelete(docs, prev);
    return result;
  };
  docsProto._item = function item(this: unknown, keyPath: unknown, value: unknown, partition: unknown) {
    const docs = this as Documents;
    const found = original.item.call(docs, keyPath, value, partition) as Item;
    const h = hooks();
    const doc = found.read() as CosmosDoc | undefined;
    if (h && doc && h.isExpired(docs, doc)) {
      raw.deleteDoc(docs, doc._rid);
      h.docDelete(docs, doc, true);
      return docs._newItem(undefined);
    }
    return found;
  };
}

// ---------------------------------------------------------------------------------------------
// P5: databases and containers.

function patchContainers(): void {
  dbsProto.create = function create(this: unknown, data: unknown) {
    const db = original.create.call(this, data) as ItemObject;
    hooks()?.databasePut(db);
    return db;
  };
  dbsProto.delete = function del(this: unknown, idOrRid: unknown, partition: unknown) {
    const dbs = this as Databases;
    const prev = dbs._item('/id', idOrRid as string, partition).read() as ItemObject | undefined;
    const result = original.delete.call(dbs, idOrRid, partition);
    if (prev) hooks()?.databaseDelete(prev._rid);
    return result;
  };
  collsProto.create = function create(this: unknown, data: unknown) {
    if (hooks()) checkContainer(data);
    const coll = original.create.call(this, data) as ItemObject;
    hooks()?.collectionPut(this as Collections, coll);
    return coll;
  };
  collsProto.delete = function del(this: unknown, idOrRid: unknown, partition: unknown) {
    const colls = this as Collections;
    const prev = colls._item('/id', idOrRid as string, partition).read() as ItemObject | undefined;
    const result = original.delete.call(colls, idOrRid, partition);
    if (prev) hooks()?.collectionDelete(colls, prev._rid);
    return result;
  };
}

let installed = false;

/** Idempotent; `bench/cosmos-query.ts` measures the engine before calling it. */
export function installUpstreamPatches(): void {
  if (installed) return;
  installed = true;
  patchQueryEngine();
  patchDocuments();
  patchContainers();
}

// ---------------------------------------------------------------------------------------------
// R1–R8: requests we answer instead of upstream.

export type OverrideKey =
  | 'account'
  | 'queryDocuments'
  | 'readDocument'
  | 'changeFeed'
  | 'readFeed'
  | 'batch'
  | 'partitionKeyRanges'
  | 'replaceCollection';

/**
 * `method` is already classified the way upstream's router does (POST_QUERY, POST_UPSERT,
 * POST_BATCH); `segs` are the decoded path segments.
 */
export function overrideFor(
  method: string,
  segs: string[],
  headers: IncomingHttpHeaders,
): OverrideKey | undefined {
  const n = segs.length;
  if (n === 0) return method === 'GET' ? 'account' : undefined;
  if (segs[0] !== 'dbs' || segs[2] !== 'colls') return undefined;
  if (n === 4) return method === 'PUT' ? 'replaceCollection' : undefined;
  if (n === 5 && segs[4] === 'pkranges' && method === 'GET') return 'partitionKeyRanges';
  if (segs[4] !== 'docs') return undefined;
  if (n === 5) {
    if (method === 'POST_QUERY') return 'queryDocuments';
    if (method === 'POST_BATCH') return 'batch';
    if (method === 'GET') return headers['a-im'] ? 'changeFeed' : 'readFeed';
  }
  if (n === 6 && method === 'GET') return 'readDocument';
  return undefined;
}
