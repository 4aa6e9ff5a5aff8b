/**
 * Our implementations of the requests listed as R1–R8 in patches.ts. Each returns a Reply; the
 * server adds the common headers.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type Collection from '@vercel/cosmosdb-server/lib/account/collection';
import type ItemObject from '@vercel/cosmosdb-server/lib/account/item-object';
import * as documentOps from '@vercel/cosmosdb-server/lib/handler/_document-operations';
import { patchOperation } from '@vercel/cosmosdb-server/lib/handler/_patch-operations';
import type { CosmosEngine } from './engine';
import type { RequestMeter } from './meter';
import type { CosmosDoc, OverrideKey } from './patches';
import { rangeScope } from './ranges';
import {
  MIN_REQUEST_RU,
  feedPageCharge,
  itemBytes,
  pointReadCharge,
  queryPageCharge,
  roundCharge,
} from './requestCharge';
import { checkContainer, checkOrderBy, type IndexingPolicy } from './rules';

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Estimated RU (requestCharge.ts); absent: the server derives it from the request's writes. */
  charge?: number;
  /** For the per-container stats (meter.ts); absent: the server names it from the request. */
  operation?: string;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface RequestContext {
  engine: CosmosEngine;
  req: IncomingMessage;
  /** Decoded path segments, e.g. ['dbs', 'app', 'colls', 'events', 'docs']. */
  segs: string[];
  /** The item writes this request made, as the engine reported them. */
  meter: RequestMeter;
}

/** Page size of a change-feed response when the client sets no `maxItemCount`. */
const DEFAULT_FEED_PAGE = 100;

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'The request body is not valid JSON.');
  }
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function isTrue(headers: IncomingHttpHeaders, name: string): boolean {
  return header(headers, name)?.toLowerCase() === 'true';
}

/**
 * The logical partition a request is scoped to (`x-ms-documentdb-partitionkey`, a JSON array), or
 * undefined when it is not scoped. `[{}]` is the SDK's "None" partition key (items without one).
 */
export function requestPartition(headers: IncomingHttpHeaders): { value: unknown } | undefined {
  const text = header(headers, 'x-ms-documentdb-partitionkey');
  if (!text) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new HttpError(400, `Invalid x-ms-documentdb-partitionkey header: ${text}`);
  }
  const value = Array.isArray(parsed) ? (parsed[0] as unknown) : parsed;
  return { value: value !== null && typeof value === 'object' ? undefined : value };
}

/** Upstream keys items by `${partition || id}:…`, so this is the partition argument its lookups expect. */
function upstreamPartition(partition: { value: unknown } | undefined, id: string): unknown {
  return partition?.value ?? id;
}

function collectionOf(ctx: RequestContext): Collection {
  const [, dbId = '', , collId = ''] = ctx.segs;
  return ctx.engine.account.database(dbId).collection(collId);
}

function continuationOf(headers: IncomingHttpHeaders): { token: string } | null {
  const text = header(headers, 'x-ms-continuation');
  if (!text) return null;
  try {
    return JSON.parse(text) as { token: string };
  } catch {
    throw new HttpError(400, 'Invalid continuation token.');
  }
}

function maxItemCountOf(headers: IncomingHttpHeaders): number | null {
  const text = header(headers, 'x-ms-max-item-count');
  const n = text === undefined ? NaN : parseInt(text, 10);
  return Number.isFinite(n) && n > 0 ? n : null;
}

interface QueryResult {
  result: unknown[];
  continuation: unknown;
}

/**
 * A query page, or with `feed` a read-feed page (charged as a feed: one point read per item, as the
 * service documents for feed operations, instead of a query's base + results).
 */
function runQuery(
  ctx: RequestContext,
  spec: { query: string; parameters?: { name: string; value: unknown }[] },
  feed = false,
): Reply {
  const operation = feed ? 'readFeed' : 'query';
  const coll = collectionOf(ctx);
  const docs = coll.documents;
  const partition = requestPartition(ctx.req.headers);
  // A cross-partition query fans out to every range. Range "0" answers for the whole container, so
  // ORDER BY, TOP and aggregates stay exact server-side; the other ranges answer empty pages.
  const scope = partition ? undefined : rangeScopeOf(ctx);
  if (scope && scope.range.id !== '0') {
    return {
      status: 200,
      body: { _rid: coll.read()._rid, Documents: [], _count: 0 },
      headers: { 'x-ms-item-count': '0' },
      charge: feed ? feedPageCharge([]) : queryPageCharge([]),
      operation,
    };
  }
  const input = ctx.engine.queryInput(docs, partition, typeFilterOf(spec.query, spec.parameters));
  // Upstream's and the query engine's CompositeIndex types differ only in optionality of `order`.
  const policy = coll.read().indexingPolicy;
  const compositeIndexes = (policy?.compositeIndexes ?? []) as never[][];
  let out: QueryResult;
  try {
    const query = docs._getQuery(spec.query);
    checkOrderBy(query.ast, policy as IndexingPolicy | undefined);
    out = query.exec(input, {
      parameters: spec.parameters,
      udf: docs._userDefinedFunctions(),
      maxItemCount: maxItemCountOf(ctx.req.headers) ?? undefined,
      continuation: continuationOf(ctx.req.headers) ?? undefined,
      compositeIndexes,
    }) as QueryResult;
  } catch (err) {
    // Syntax errors and unsupported constructs are the caller's problem, as in real Cosmos.
    throw new HttpError(400, (err as Error).message);
  }
  const headers: Record<string, string> = { 'x-ms-item-count': String(out.result.length) };
  if (out.continuation) headers['x-ms-continuation'] = JSON.stringify(out.continuation);
  const sizes = out.result.map(itemBytes);
  return {
    status: 200,
    body: { _rid: coll.read()._rid, Documents: out.result, _count: out.result.length },
    headers,
    charge: feed ? feedPageCharge(sizes) : queryPageCharge(sizes),
    operation,
  };
}

/**
 * The `type` every result of a query must have, when the query says so in a way that cannot be
 * misread: `SELECT … FROM c WHERE … [ORDER BY …]` whose WHERE is a plain conjunction (no OR, NOT,
 * subquery, JOIN, conditional or UDF) with a top-level term `c.type = 'literal'` (or `= @param`
 * with a string value). Anything else: undefined (every item of the partition is read). Lets a
 * partition's handful of participants be queried without scanning its thousands of pages.
 */
export function typeFilterOf(
  query: string,
  parameters: { name: string; value: unknown }[] = [],
): string | undefined {
  const literals: string[] = [];
  let bad = false;
  const text = query.replace(/'((?:[^'\\]|\\.)*)'/g, (_m, body: string) => {
    if (body.includes('\\')) bad = true;
    literals.push(body);
    return `'${literals.length - 1}'`;
  });
  if (bad || text.includes('"') || text.includes('`')) return undefined;
  const m = /^\s*SELECT\s[\s\S]*?\sFROM\s+c\s+WHERE\s([\s\S]+?)(?:\sORDER\s+BY\s[^()]*)?$/i.exec(text);
  if (!m) return undefined;
  const where = m[1]!;
  if (/\b(OR|NOT|EXISTS|SELECT|JOIN|FROM|BETWEEN|udf)\b|\?|\|\||--/i.test(where)) return undefined;
  let depth = 0;
  let start = 0;
  const terms: string[] = [];
  for (let i = 0; i <= where.length; i++) {
    const ch = where[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    if (depth < 0) return undefined;
    if (i === where.length || (depth === 0 && /^\sAND\s/i.test(where.slice(i, i + 5)))) {
      terms.push(where.slice(start, i).trim());
      start = i + 4;
    }
  }
  for (const term of terms) {
    const t = /^c\.type\s*=\s*(?:'(\d+)'|(@\w+))$/.exec(term);
    if (!t) continue;
    if (t[1] !== undefined) return literals[Number(t[1])];
    const value = parameters.find((p) => p.name === t[2])?.value;
    if (typeof value === 'string') return value;
  }
  return undefined;
}

/**
 * The SDK asks for a plan with every query but only uses it if the plain query is rejected (or with
 * forceQueryPlan). Range "0" evaluates a cross-partition query for the whole container (the other
 * ranges answer empty pages), so the plan says "nothing to do client-side".
 */
function queryPlan(query: string): Reply {
  return {
    // The plan is the gateway's work, not the partition's; charged nothing (an assumption, README).
    charge: 0,
    operation: 'queryPlan',
    status: 200,
    body: {
      partitionedQueryExecutionInfoVersion: 2,
      queryInfo: {
        distinctType: 'None',
        top: null,
        offset: null,
        limit: null,
        orderBy: [],
        orderByExpressions: [],
        groupByExpressions: [],
        groupByAliases: [],
        aggregates: [],
        groupByAliasToAggregateType: {},
        rewrittenQuery: '',
        hasSelectValue: /^\s*select\s+(top\s+\S+\s+)?value\s/i.test(query),
        dCountInfo: null,
        hasNonStreamingOrderBy: false,
      },
      queryRanges: [{ min: '', max: 'FF', isMinInclusive: true, isMaxInclusive: false }],
    },
  };
}

/**
 * R1: the database account, advertising endpoints on whatever host the client used, with the
 * scheme it used (http, or https when the server has a certificate).
 */
function account(ctx: RequestContext): Reply {
  const host = header(ctx.req.headers, 'host') ?? '127.0.0.1';
  const scheme = (ctx.req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http';
  const location = [{ name: 'South Central US', databaseAccountEndpoint: `${scheme}://${host}/` }];
  return {
    status: 200,
    body: { ...ctx.engine.account.read(), writableLocations: location, readableLocations: location },
    charge: MIN_REQUEST_RU,
    operation: 'metadata',
  };
}

/** R2 */
async function queryDocuments(ctx: RequestContext): Promise<Reply> {
  const body = (await readJson(ctx.req)) as {
    query?: unknown;
    parameters?: { name: string; value: unknown }[];
  };
  if (typeof body?.query !== 'string') throw new HttpError(400, 'missing query');
  if (header(ctx.req.headers, 'x-ms-cosmos-is-query-plan-request')?.toLowerCase() === 'true') {
    return queryPlan(body.query);
  }
  return runQuery(ctx, { query: body.query, parameters: body.parameters });
}

/** R5: read feed (`readAll` without a query). */
function readFeed(ctx: RequestContext): Reply {
  return runQuery(ctx, { query: 'SELECT * FROM c' }, true);
}

/** R3 */
function readDocument(ctx: RequestContext): Reply {
  const id = ctx.segs[5] ?? '';
  const coll = collectionOf(ctx);
  const doc = coll.document(id, upstreamPartition(requestPartition(ctx.req.headers), id)).read() as
    CosmosDoc | undefined;
  if (!doc) {
    return {
      status: 404,
      body: { code: 'NotFound', message: 'Entity with the specified id does not exist in the system.' },
      charge: MIN_REQUEST_RU,
      operation: 'read',
    };
  }
  if (header(ctx.req.headers, 'if-none-match') === doc._etag)
    return { status: 304, headers: { etag: doc._etag }, charge: MIN_REQUEST_RU, operation: 'read' };
  return { status: 200, body: doc, charge: roundCharge(pointReadCharge(itemBytes(doc))), operation: 'read' };
}

/**
 * R4: incremental (latest-version) change feed. Start: no If-None-Match = beginning, `*` = now,
 * otherwise the LSN from a previous response's etag; If-Modified-Since = start from a time. The
 * response etag is the continuation: the LSN to resume after.
 */
function changeFeed(ctx: RequestContext): Reply {
  const { headers } = ctx.req;
  const mode = header(headers, 'a-im') ?? '';
  if (!/incremental/i.test(mode)) {
    throw new HttpError(400, `Change feed mode "${mode}" is not supported (only latest version).`);
  }
  const docs = collectionOf(ctx).documents;
  const start = header(headers, 'if-none-match');
  let after = 0;
  if (start === '*') after = ctx.engine.currentLsn(docs);
  else if (start) {
    after = Number(start.replace(/^W\//, '').replace(/"/g, ''));
    if (!Number.isSafeInteger(after) || after < 0)
      throw new HttpError(400, `Invalid change feed continuation ${start}`);
  }
  const sinceText = header(headers, 'if-modified-since');
  const since = sinceText ? Date.parse(sinceText) : undefined;
  if (since !== undefined && Number.isNaN(since))
    throw new HttpError(400, `Invalid If-Modified-Since ${sinceText}`);
  const partition = requestPartition(headers);
  const page = ctx.engine.readChangeFeed(docs, {
    after,
    since,
    max: maxItemCountOf(headers) ?? DEFAULT_FEED_PAGE,
    partition,
    inRange: partition ? undefined : rangeScopeOf(ctx)?.contains,
  });
  const etag = `"${page.next}"`;
  const operation = 'changeFeed';
  if (!page.docs.length) return { status: 304, headers: { etag }, charge: feedPageCharge([]), operation };
  return {
    status: 200,
    body: { _rid: collectionOf(ctx).read()._rid, Documents: page.docs, _count: page.docs.length },
    headers: { etag, 'x-ms-item-count': String(page.docs.length) },
    charge: feedPageCharge(page.docs.map(itemBytes)),
    operation,
  };
}

/** The partition key range a request is scoped to (`x-ms-documentdb-partitionkeyrangeid`), if any. */
function rangeScopeOf(ctx: RequestContext): ReturnType<typeof rangeScope> {
  return rangeScope(ctx.req.headers, ctx.engine.keyRanges);
}

/** R7: the container's physical partition key ranges (one unless `partitionRanges` says more). */
function partitionKeyRanges(ctx: RequestContext): Reply {
  const coll = collectionOf(ctx).read();
  const cost = { charge: MIN_REQUEST_RU, operation: 'metadata' };
  if (header(ctx.req.headers, 'a-im') && header(ctx.req.headers, 'if-none-match')) {
    return { status: 304, headers: { etag: '"1"' }, ...cost };
  }
  const ranges = ctx.engine.keyRanges.map((r, i, all) => ({
    id: r.id,
    _rid: coll._rid,
    _self: `${coll._self}/pkranges/${r.id}/`,
    _etag: '"1"',
    _ts: coll._ts ?? 0,
    minInclusive: r.minInclusive,
    maxExclusive: r.maxExclusive,
    ridPrefix: i,
    throughputFraction: 1 / all.length,
    status: 'online',
    parents: [],
  }));
  return {
    status: 200,
    body: { _rid: coll._rid, PartitionKeyRanges: ranges, _count: ranges.length },
    headers: { etag: '"1"', 'x-ms-item-count': String(ranges.length) },
    ...cost,
  };
}

/** R8: upstream replaced the Collection object, and with it every item; we update it in place. */
async function replaceCollection(ctx: RequestContext): Promise<Reply> {
  const body = (await readJson(ctx.req)) as ItemObject;
  const coll = collectionOf(ctx);
  const current = coll.read();
  checkContainer(body); // a CosmosRuleError, answered 400
  if (!body || typeof body !== 'object' || body.id !== current.id)
    throw new HttpError(400, 'The container id cannot change.');
  if (JSON.stringify(body.partitionKey?.paths) !== JSON.stringify(current.partitionKey?.paths)) {
    throw new HttpError(400, 'The partition key of a container cannot change.');
  }
  const ifMatch = header(ctx.req.headers, 'if-match');
  if (ifMatch && ifMatch !== current._etag) {
    return { status: 412, body: { code: 'PreconditionFailed', message: 'The container has changed.' } };
  }
  const indexingPolicy = body.indexingPolicy ?? current.indexingPolicy;
  const next: ItemObject = {
    ...body,
    partitionKey: current.partitionKey,
    indexingPolicy: indexingPolicy && {
      ...indexingPolicy,
      indexingMode: (indexingPolicy.indexingMode ?? 'consistent').toLowerCase(),
    },
    _rid: current._rid,
    _self: current._self,
    _etag: randomUUID(),
    _ts: Math.floor(Date.now() / 1000),
  };
  const [, dbId = ''] = ctx.segs;
  ctx.engine.replaceCollection(ctx.engine.account.database(dbId).collections, coll, next);
  return { status: 200, body: next, charge: MIN_REQUEST_RU, operation: 'metadata' };
}

interface BatchOperation {
  operationType?: string;
  id?: string;
  partitionKey?: string;
  ifMatch?: string;
  resourceBody?: Record<string, unknown> | Record<string, unknown>[];
}

interface OperationResult {
  statusCode: number;
  body?: unknown;
  /** Estimated RU of this operation (requestCharge.ts); set by meteredRun. */
  requestCharge?: number;
}

function runOperation(
  coll: Collection,
  op: BatchOperation,
  batchPartition: string | undefined,
): OperationResult {
  const partitionKey = op.partitionKey ?? batchPartition;
  const resourceBody = op.resourceBody as documentOps.OperationResult['body'];
  if (partitionKey !== undefined && resourceBody && !Array.isArray(resourceBody)) {
    // Real Cosmos rejects an item whose partition key differs from the batch's.
    const expected = requestPartition({ 'x-ms-documentdb-partitionkey': partitionKey });
    const actual = coll.documents._getPartition(resourceBody);
    if (expected?.value !== undefined && op.operationType !== 'Patch' && actual !== expected.value) {
      return { statusCode: 400, body: { message: 'Partition key of the item does not match the batch.' } };
    }
  }
  const pk = partitionKey ?? JSON.stringify([op.id]);
  switch (op.operationType) {
    case 'Create':
      return documentOps.createOperation(coll, { resourceBody: resourceBody ?? {} });
    case 'Upsert':
      return documentOps.upsertOperation(coll, {
        partitionKey: pk,
        ifMatch: op.ifMatch,
        resourceBody: resourceBody ?? {},
      });
    case 'Replace':
      return documentOps.replaceOperation(coll, {
        partitionKey: pk,
        ifMatch: op.ifMatch,
        resourceBody: resourceBody ?? {},
      });
    case 'Read':
      return documentOps.readOperation(coll, { partitionKey: pk, id: op.id ?? '' });
    case 'Delete':
      return documentOps.deleteOperation(coll, { partitionKey: pk, ifMatch: op.ifMatch, id: op.id ?? '' });
    case 'Patch': {
      const patch = op.resourceBody as unknown;
      const spec = Array.isArray(patch)
        ? { operations: patch }
        : (patch as { operations?: unknown; condition?: string });
      if (!Array.isArray(spec?.operations))
        return { statusCode: 400, body: { message: 'Invalid patch request.' } };
      return patchOperation(coll, {
        id: op.id ?? '',
        partitionKey: pk,
        ifMatch: op.ifMatch,
        operations: spec.operations,
        condition: spec.condition,
      });
    }
    default:
      return {
        statusCode: 400,
        body: { message: `Operation type '${String(op.operationType)}' is not supported.` },
      };
  }
}

function safeRun(coll: Collection, op: BatchOperation, batchPartition: string | undefined): OperationResult {
  try {
    return runOperation(coll, op, batchPartition);
  } catch (err) {
    return { statusCode: 400, body: { message: (err as Error).message } };
  }
}

/**
 * One operation of a batch with its estimated charge: a read by the item's size, a write by what the
 * engine reports it wrote (meter.ts), a failure the minimum. The batch's charge is the sum.
 */
function meteredRun(
  ctx: RequestContext,
  coll: Collection,
  op: BatchOperation,
  batchPartition: string | undefined,
): OperationResult {
  const mark = ctx.meter.writes.length;
  const r = safeRun(coll, op, batchPartition);
  let charge: number;
  if (r.statusCode >= 400) charge = MIN_REQUEST_RU;
  else if (op.operationType === 'Read') charge = pointReadCharge(itemBytes(r.body));
  else charge = ctx.meter.chargeFrom(mark, op.operationType === 'Patch');
  return { ...r, requestCharge: roundCharge(charge) };
}

function operationResponse(r: OperationResult, minimal = false): Record<string, unknown> {
  const body = r.body as { _etag?: string; message?: string } | undefined;
  const requestCharge = r.requestCharge ?? 0;
  if (r.statusCode >= 400) {
    const message =
      body?.message ?? (r.statusCode === 404 ? 'Entity with the specified id does not exist.' : '');
    return { statusCode: r.statusCode, requestCharge, message };
  }
  // `Prefer: return=minimal` (the SDK's contentResponseOnWriteEnabled: false): status and etag only.
  if (minimal) return { statusCode: r.statusCode, requestCharge, eTag: body?._etag };
  return { statusCode: r.statusCode, requestCharge, eTag: body?._etag, resourceBody: r.body };
}

/**
 * R6: transactional batch (`x-ms-cosmos-batch-atomic: true`): all operations or none; on failure the
 * failing operation's status and 424 for every other one, HTTP 207. Without the atomic header
 * (bulk) every operation commits on its own.
 */
async function batch(ctx: RequestContext): Promise<Reply> {
  const ops = await readJson(ctx.req);
  if (!Array.isArray(ops)) throw new HttpError(400, 'Invalid request body');
  if (ops.length > 100) throw new HttpError(400, 'A batch can have at most 100 operations.');
  const { headers } = ctx.req;
  const coll = collectionOf(ctx);
  const batchPartition = header(headers, 'x-ms-documentdb-partitionkey');
  const minimal = /return=minimal/i.test(header(headers, 'prefer') ?? '');
  const { engine, meter } = ctx;
  const results: Record<string, unknown>[] = [];
  let failed = false;
  if (isTrue(headers, 'x-ms-cosmos-batch-atomic')) {
    engine.begin(coll.documents);
    let failedAt = -1;
    const outcomes: OperationResult[] = [];
    const mark = meter.writes.length;
    try {
      for (let i = 0; i < ops.length && failedAt < 0; i += 1) {
        const r = meteredRun(ctx, coll, ops[i] as BatchOperation, batchPartition);
        outcomes.push(r);
        if (r.statusCode >= 400) failedAt = i;
      }
    } finally {
      if (failedAt < 0 && outcomes.length === ops.length) engine.commit();
      else {
        engine.rollback();
        meter.discardFrom(mark); // nothing was written
      }
    }
    failed = failedAt >= 0;
    for (let i = 0; i < ops.length; i += 1) {
      const r = outcomes[i];
      if (!failed && r) results.push(operationResponse(r, minimal));
      else if (i === failedAt && r) results.push(operationResponse(r, minimal));
      else results.push({ statusCode: 424, requestCharge: 0 });
    }
  } else {
    const continueOnError = header(headers, 'x-ms-cosmos-batch-continue-on-error') !== 'false';
    for (const op of ops) {
      if (failed && !continueOnError) {
        results.push({ statusCode: 424, requestCharge: 0 });
        continue;
      }
      engine.begin(coll.documents);
      let r: OperationResult = { statusCode: 500 };
      const mark = meter.writes.length;
      try {
        r = meteredRun(ctx, coll, op as BatchOperation, batchPartition);
      } finally {
        if (r.statusCode < 400) engine.commit();
        else {
          engine.rollback();
          meter.discardFrom(mark);
        }
      }
      if (r.statusCode >= 400) failed = true;
      results.push(operationResponse(r, minimal));
    }
  }
  // The batch's charge is the sum of its operations' (the service publishes no separate price).
  let charge = 0;
  for (const r of results) charge += Number(r.requestCharge ?? 0);
  return { status: failed ? 207 : 200, body: results, charge: roundCharge(charge), operation: 'batch' };
}

export const handlers: Record<OverrideKey, (ctx: RequestContext) => Reply | Promise<Reply>> = {
  account,
  queryDocuments,
  readDocument,
  changeFeed,
  readFeed,
  batch,
  partitionKeyRanges,
  replaceCollection,
};
