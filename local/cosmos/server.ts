/**
 * Embedded Cosmos DB (NoSQL API) for development and tests; production uses Azure Cosmos DB.
 *
 * It speaks the wire protocol of the unmodified `@azure/cosmos` SDK over plain http. Minimum client
 * options: `new CosmosClient({ endpoint, key })` with `endpoint` = `EmbeddedCosmos.endpoint` and
 * `key` = `EMBEDDED_COSMOS_KEY` (the key is not checked). Nothing else is needed: the account
 * advertises http:// endpoints for the host the client connected to, so endpoint discovery stays
 * on. Call `client.dispose()` when done (the SDK keeps a background refresh timer).
 *
 * Built on `@vercel/cosmosdb-server`; every deviation from it is listed in patches.ts.
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { EntraTokenVerifier } from '../../lib/entra';
import type Account from '@vercel/cosmosdb-server/lib/account';
import routes from '@vercel/cosmosdb-server/lib/routes';
import { CosmosEngine } from './engine';
import { FaultInjector, type FaultSettings } from './faults';
import { type Reply, type RequestContext, HttpError, handlers } from './handlers';
import { type CostSnapshot, CostStats, RequestMeter, requestMeter } from './meter';
import { activeEngine, installUpstreamPatches, overrideFor } from './patches';
import { MIN_REQUEST_RU, roundCharge } from './requestCharge';

export interface EmbeddedCosmosOptions {
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** 0 (default) = an ephemeral port. */
  port?: number;
  /** Directory for durable data; undefined = in memory only. */
  dataDir?: string;
  /** Journal size (bytes) that triggers compaction into a new snapshot; default 64 MiB. For tests. */
  compactBytes?: number;
  /** Injected faults (faults.ts); off by default. */
  faults?: FaultSettings;
  /** Physical partition key ranges per container (ranges.ts); default 1. */
  partitionRanges?: number;
  /**
   * Serve https with this certificate (and advertise https endpoints). The SDK sends Entra tokens
   * only over TLS, and Azure Cosmos DB is TLS-only, so the identity path needs it.
   */
  tls?: { key: string; cert: string };
  /**
   * Accept Microsoft Entra tokens (`type=aad`), checked as the service does: RS256 against this
   * JWKS, one of these issuers, audience = this account's endpoint or https://cosmos.azure.com.
   * Without it, aad tokens are refused (401).
   */
  entra?: { jwksUri: string; issuers: string[]; audiences?: string[] };
  /** Refuse key-signed requests (401), like an account with `disableLocalAuth: true`. */
  disableLocalAuth?: boolean;
}

/** Requests by how they were authorised (and refused) since start. */
export interface AuthStats {
  key: number;
  entra: number;
  refused: number;
}

export interface EmbeddedCosmos {
  /** `http://127.0.0.1:PORT/` */
  endpoint: string;
  key: string;
  port: number;
  /** Estimated RU and bytes written per container so far (also `GET /_embedded/stats`). */
  stats(): CostSnapshot;
  /** Zeroes the totals (also `DELETE /_embedded/stats`). */
  resetStats(): void;
  authStats(): AuthStats;
  /** Stops listening, drops open connections, flushes and releases the data directory. */
  close(): Promise<void>;
}

/** The Cosmos DB emulator's well-known master key. */
export const EMBEDDED_COSMOS_KEY =
  'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU9DXHkdnWVSKjFjXuvpwbn+PUuw6qd2t5kzi1sP1C6iu1v5g==';

type UpstreamHandler = (
  account: Account,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  params: Record<string, string>,
) => unknown;

/** Cost totals (meter.ts); outside `/dbs`, so no SDK request can reach it. */
const STATS_PATH = '/_embedded/stats';

/** Cosmos DB's request (and so item) size limit. */
const MAX_REQUEST_BYTES = 2 * 1024 * 1024;

const ERROR_CODES: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  412: 'PreconditionFailed',
  413: 'RequestEntityTooLarge',
  424: 'FailedDependency',
  500: 'InternalServerError',
};

function headerIsTrue(req: http.IncomingMessage, name: string): boolean {
  const v = req.headers[name];
  return (Array.isArray(v) ? v : [v]).some((x) => x?.toLowerCase() === 'true');
}

/** The same request classification as upstream's router. */
function classify(req: http.IncomingMessage): string {
  const method = req.method ?? 'GET';
  if (
    method === 'POST' &&
    (headerIsTrue(req, 'x-ms-documentdb-isquery') || req.headers['content-type'] === 'application/query+json')
  ) {
    return 'POST_QUERY';
  }
  if (headerIsTrue(req, 'x-ms-documentdb-is-upsert')) return `${method}_UPSERT`;
  if (headerIsTrue(req, 'x-ms-cosmos-is-batch-request')) return `${method}_BATCH`;
  return method;
}

function pathSegments(url: string): string[] {
  const pathname = url.split('?', 1)[0] ?? '';
  return pathname
    .split('/')
    .filter((s) => s.length > 0)
    .map((s) => decodeURIComponent(s));
}

/** A request under a database or container that does not exist. */
function targetMissing(engine: CosmosEngine, segs: string[]): boolean {
  if (segs[0] !== 'dbs' || segs.length < 3) return false;
  const db = engine.account.database(segs[1] ?? '');
  if (!db.read()) return true;
  return segs.length >= 4 && !db.collection(segs[3] ?? '').read();
}

async function callUpstream(
  engine: CosmosEngine,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<Reply> {
  const route = routes(req) as [Record<string, string>, UpstreamHandler] | undefined;
  if (!route) return { status: 400, body: { message: 'no route' } };
  const [params, handler] = route;
  const body = await handler(engine.account, req, res, params);
  return { status: res.statusCode, body };
}

/** The stats name of a request upstream answers (our handlers name their own). */
function operationOf(method: string, segs: string[]): string {
  if (segs[0] !== 'dbs' || segs[2] !== 'colls' || segs[4] !== 'docs') return 'metadata';
  if (segs.length === 5 && method === 'POST') return 'create';
  if (segs.length === 5 && method === 'POST_UPSERT') return 'upsert';
  if (segs.length === 6 && method === 'PUT') return 'replace';
  if (segs.length === 6 && method === 'PATCH') return 'patch';
  if (segs.length === 6 && method === 'DELETE') return 'delete';
  return 'metadata';
}

/**
 * The estimated charge of a request (requestCharge.ts): what our handler computed, else the item
 * writes the engine reported, else (a failure, or a database/container request) the minimum.
 */
function costOf(reply: Reply, meter: RequestMeter, operation: string): number {
  if (reply.charge !== undefined) return reply.charge;
  if (reply.status < 400 && meter.writes.length > 0)
    return roundCharge(meter.chargeFrom(0, operation === 'patch'));
  return MIN_REQUEST_RU;
}

function containerKey(segs: string[]): string | undefined {
  return segs[0] === 'dbs' && segs[2] === 'colls' && segs.length >= 4 ? `${segs[1]}/${segs[3]}` : undefined;
}

function send(res: http.ServerResponse, reply: Reply): void {
  const { status } = reply;
  let { body } = reply;
  res.statusCode = status;
  for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
  const obj =
    body !== null && typeof body === 'object' && !Array.isArray(body)
      ? (body as Record<string, unknown>)
      : undefined;
  if (obj && typeof obj._etag === 'string' && !res.hasHeader('etag')) res.setHeader('etag', obj._etag);
  res.setHeader('content-type', 'application/json');
  res.setHeader('x-ms-activity-id', randomUUID());
  res.setHeader('x-ms-request-charge', String(reply.charge ?? MIN_REQUEST_RU));
  if (status === 204 || status === 304 || body === undefined) {
    res.end();
    return;
  }
  if (status >= 400) {
    body = { code: ERROR_CODES[status] ?? 'Error', message: '', ...obj };
  }
  res.end(JSON.stringify(body));
}

async function handle(
  engine: CosmosEngine,
  stats: CostStats,
  meter: RequestMeter,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  let reply: Reply;
  const segs = pathSegments(req.url ?? '/');
  const method = classify(req);
  try {
    const override = overrideFor(method, segs, req.headers);
    if (req.headers['x-ms-indexing-directive'] !== undefined) {
      reply = {
        status: 400,
        body: { message: 'x-ms-indexing-directive is not supported by the embedded Cosmos DB.' },
      };
      req.resume();
    } else if (Number(req.headers['content-length'] ?? 0) > MAX_REQUEST_BYTES) {
      reply = { status: 413, body: { message: 'Request size is too large (Cosmos DB allows 2 MB).' } };
      req.resume();
    } else if (targetMissing(engine, segs)) {
      reply = { status: 404, body: { code: 'NotFound', message: 'Resource Not Found' } };
    } else if (override) {
      const ctx: RequestContext = { engine, req, segs, meter };
      reply = await handlers[override](ctx);
    } else {
      reply = await callUpstream(engine, req, res);
    }
  } catch (err) {
    if (res.destroyed) return; // the client went away mid-request
    const e = err as Error & { badRequest?: boolean };
    if (err instanceof HttpError) reply = { status: err.status, body: { message: err.message } };
    else if (err instanceof SyntaxError || err instanceof URIError || e.badRequest) {
      reply = { status: 400, body: { message: e.message } };
    } else {
      console.error('embedded cosmos: request failed', req.method, req.url, err);
      reply = { status: 500, body: { message: e.message } };
    }
  }
  if (res.headersSent) return;
  const operation = reply.operation ?? operationOf(method, segs);
  const charge = costOf(reply, meter, operation);
  stats.record(
    containerKey(segs),
    operation,
    charge,
    reply.status < 400 ? meter.writes : [],
    operation === 'changeFeed' && reply.status === 304,
  );
  send(res, withProgressHeaders(engine, segs, { ...reply, charge }));
}

function serveStats(stats: CostStats, req: http.IncomingMessage, res: http.ServerResponse): void {
  req.resume();
  let status = 200;
  let body: unknown;
  if (req.method === 'GET') body = stats.snapshot();
  else if (req.method === 'DELETE') {
    stats.reset();
    body = stats.snapshot();
  } else {
    status = 405;
    body = { message: 'GET or DELETE' };
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Item requests answer with the service's progress headers: `lsn` (the container's latest LSN, one
 * counter for all its ranges) and a session token for range "0" in the `version#globalLsn` form the
 * SDK's session container parses and sends back on later reads.
 */
function withProgressHeaders(engine: CosmosEngine, segs: string[], reply: Reply): Reply {
  if (segs[0] !== 'dbs' || segs[2] !== 'colls' || segs[4] !== 'docs' || targetMissing(engine, segs))
    return reply;
  const docs = engine.account.database(segs[1] ?? '').collection(segs[3] ?? '').documents;
  const lsn = String(engine.currentLsn(docs));
  return { ...reply, headers: { ...reply.headers, lsn, 'x-ms-session-token': `0:-1#${lsn}` } };
}

/**
 * The account's authorization, as Cosmos DB applies it. Key signatures (`type=master`) are not
 * checked (any key works, as before) unless local auth is disabled. Entra tokens are verified,
 * and may not create, replace or delete databases and containers: data-plane RBAC does not cover
 * them (403, substatus 5300), which is why identity deployments create them in infrastructure.
 */
class AccountAuth {
  readonly stats: AuthStats = { key: 0, entra: 0, refused: 0 };
  entra: EntraTokenVerifier | undefined;

  constructor(private readonly disableLocalAuth: boolean) {}

  /** undefined = allowed; a Reply = refused. Synchronous unless an Entra token must be verified. */
  check(req: http.IncomingMessage, segs: string[]): Reply | undefined | Promise<Reply | undefined> {
    const refuse = (status: number, message: string, headers?: Record<string, string>): Reply => {
      this.stats.refused++;
      return { status, body: { code: ERROR_CODES[status], message }, headers };
    };
    const raw = req.headers.authorization ?? '';
    let header = raw;
    try {
      header = decodeURIComponent(raw);
    } catch {
      // left as sent
    }
    const match = /^type=([A-Za-z]+)&ver=[^&]*&sig=(.+)$/.exec(header);
    const type = match?.[1]?.toLowerCase();
    if (type !== 'aad') {
      if (this.disableLocalAuth) {
        return refuse(401, 'Local Authorization is disabled. Use an AAD token to authorize all requests.');
      }
      this.stats.key++;
      return undefined;
    }
    if (this.entra === undefined) {
      return refuse(401, 'AAD tokens are not accepted: the embedded Cosmos DB was started without a JWKS.');
    }
    return this.entra.verify(match?.[2] ?? '').then((check) => {
      if (!check.ok) return refuse(401, `The AAD token was refused: ${check.reason}.`);
      return this.dataPlaneOnly(req, segs, refuse);
    });
  }

  private dataPlaneOnly(
    req: http.IncomingMessage,
    segs: string[],
    refuse: (status: number, message: string, headers?: Record<string, string>) => Reply,
  ): Reply | undefined {
    // Reading (queries included) is data plane; creating, replacing or deleting is not.
    const method = classify(req) === 'POST_QUERY' ? 'GET' : (req.method ?? 'GET');
    const resourceLevel =
      segs[0] === 'dbs' && (segs.length <= 2 || (segs[2] === 'colls' && segs.length <= 4));
    if (resourceLevel && method !== 'GET' && method !== 'HEAD') {
      return refuse(
        403,
        `Request blocked by Auth: the given request [${method} /${segs.join('/')}] cannot be authorized by AAD token in data plane.`,
        { 'x-ms-substatus': '5300' },
      );
    }
    this.stats.entra++;
    return undefined;
  }
}

export async function startEmbeddedCosmos(opts: EmbeddedCosmosOptions = {}): Promise<EmbeddedCosmos> {
  installUpstreamPatches();
  const engine = new CosmosEngine({
    dataDir: opts.dataDir,
    compactBytes: opts.compactBytes,
    partitionRanges: opts.partitionRanges,
  });
  engine.open();
  const faults = new FaultInjector(opts.faults ?? { throttle: 0, retryAfterMs: 10 });
  const stats = new CostStats();
  const auth = new AccountAuth(opts.disableLocalAuth === true);
  const serve = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (faults.intercept(req, res)) return;
    const meter = new RequestMeter();
    activeEngine.run(engine, () =>
      requestMeter.run(meter, () => {
        void handle(engine, stats, meter, req, res);
      }),
    );
  };
  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = req.url ?? '/';
    // Before the fault injector, so reading the meter is never throttled.
    if (url === STATS_PATH || url.startsWith(`${STATS_PATH}?`)) return serveStats(stats, req, res);
    // Key requests (the common case) are decided without waiting, so they stay on the fast path.
    const refusal = auth.check(req, pathSegments(url));
    if (!(refusal instanceof Promise)) {
      if (refusal === undefined) return serve(req, res);
      req.resume();
      return send(res, refusal);
    }
    void refusal.then(
      (reply) => {
        if (reply === undefined) return serve(req, res);
        req.resume();
        send(res, reply);
      },
      (err: unknown) => {
        console.error('embedded cosmos: authorization failed', err);
        req.resume();
        send(res, { status: 500, body: { message: 'authorization failed' } });
      },
    );
  };
  const server = opts.tls
    ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, listener)
    : http.createServer(listener);
  // Longer than any client's idle keep-alive, so the server never closes a socket a client reuses.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  const host = opts.host ?? '127.0.0.1';
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    engine.close();
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const publicHost =
    host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const scheme = opts.tls ? 'https' : 'http';
  const origin = `${scheme}://${publicHost}:${port}`;
  if (opts.entra) {
    auth.entra = new EntraTokenVerifier({
      jwksUri: opts.entra.jwksUri,
      issuers: opts.entra.issuers,
      // The SDK asks for `<endpoint>/.default`, then https://cosmos.azure.com/.default.
      audiences: opts.entra.audiences ?? [
        origin,
        `${scheme}://localhost:${port}`,
        'https://cosmos.azure.com',
      ],
    });
  }
  let closing: Promise<void> | undefined;
  return {
    endpoint: `${origin}/`,
    key: EMBEDDED_COSMOS_KEY,
    port,
    stats: () => stats.snapshot(),
    resetStats: () => stats.reset(),
    authStats: () => ({ ...auth.stats }),
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).finally(() => engine.close());
      return closing;
    },
  };
}
