/**
 * Serves the app's HTTP triggers under host.json's route prefix, like the Functions host.
 * Two modes, chosen by the app: buffered (the request body travels inside the invocation) and
 * HTTP streaming (app.setup({ enableHttpStream: true })), where the library runs its own proxy
 * server and the host forwards the raw request there, tagged with x-ms-invocation-id.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { registerHook, type RegisteredFunction } from './functionsCore';
import { invoke, triggerOf } from './invoke';
import { RouteTemplate, splitPath } from './routes';
import { serveStatic } from './staticSite';

/** The real host rejects larger bodies too (httpRuntime maxRequestLength). */
const MAX_BUFFERED_BODY = 100 * 1024 * 1024;

interface HttpRoute {
  fn: RegisteredFunction;
  template: RouteTemplate;
  methods?: Set<string>;
  authLevel: string;
  bindingName: string;
}

export interface HttpHostOptions {
  functions: RegisteredFunction[];
  routePrefix: string;
  host: string;
  port: number;
  httpStreamUri?: string;
  /**
   * The library's proxy server object (loader.ts). When known, requests whose body length is
   * declared are handed to it in process instead of over a loopback connection.
   */
  httpStreamServer?: http.Server;
  /** When set, functions with authLevel function/admin require it (`code` query or x-functions-key). */
  functionKey?: string;
  /**
   * The web app's files (dist/web), served at `/` beside the API: a convenience of the local
   * stack, which the Functions host does not have (on Azure the page is hosted as static files).
   */
  siteDir?: string;
  /**
   * Browser origins allowed to call the functions (`*` = any), like the host's CORS setting (on
   * Azure the platform answers CORS; locally `Host.CORS` in local.settings.json). Empty: no CORS
   * headers, and a preflight is answered like any other unsupported OPTIONS request.
   */
  corsOrigins?: string[];
  log: (message: string) => void;
}

export interface HttpHost {
  url: string;
  port: number;
  routes: Array<{ name: string; methods: string[]; url: string; authLevel: string }>;
  close(): Promise<void>;
}

export async function startHttpHost(opts: HttpHostOptions): Promise<HttpHost> {
  const prefix = opts.routePrefix.replace(/^\/+|\/+$/g, '');
  const routes: HttpRoute[] = [];
  for (const fn of opts.functions) {
    const trigger = triggerOf(fn);
    if (trigger.type !== 'httpTrigger') continue;
    const route = typeof trigger.route === 'string' ? trigger.route : fn.metadata.name;
    const methods = Array.isArray(trigger.methods)
      ? new Set((trigger.methods as string[]).map((m) => m.toUpperCase()))
      : undefined;
    routes.push({
      fn,
      template: new RouteTemplate([prefix, route].filter(Boolean).join('/')),
      methods,
      authLevel: typeof trigger.authLevel === 'string' ? trigger.authLevel.toLowerCase() : 'function',
      bindingName: trigger.name,
    });
  }
  routes.sort((a, b) => b.template.specificity - a.template.specificity);

  // Stream mode: one keep-alive pool to the library's proxy, and a record of invocations whose
  // handler returned no response (the library then never answers the proxied request).
  const proxyAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const noResponse = new Set<string>();
  const hook = opts.httpStreamUri
    ? registerHook('postInvocation', (ctx) => {
        const invocationId = (ctx.invocationContext as { invocationId?: string } | undefined)?.invocationId;
        if (invocationId && !ctx.error && (ctx.result === undefined || ctx.result === null)) {
          noResponse.add(invocationId);
        }
      })
    : undefined;

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      opts.log(`HTTP host error: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) sendProblem(res, 500, 'Internal Server Error', 'The function host failed.');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = requestUrl(req, `${opts.host}:${port}`);
    // Kestrel, in front of the real host, answers a malformed Host with 400 too.
    if (!url) return sendProblem(res, 400, 'Bad Request', 'The Host header is not a valid host[:port].');
    const segments = splitPath(url.pathname);
    if (!segments) return sendProblem(res, 400, 'Bad Request', 'The URL path is not valid percent-encoding.');
    const method = (req.method ?? 'GET').toUpperCase();
    if (applyCors(req, res, opts.corsOrigins ?? [])) return;
    let pathMatched = false;
    for (const route of routes) {
      const match = route.template.match(segments);
      if (!match) continue;
      pathMatched = true;
      if (route.methods && !route.methods.has(method)) continue;
      if (!authorised(route, req, url)) {
        return sendProblem(
          res,
          401,
          'Unauthorized',
          'A valid function key is required (x-functions-key or ?code=).',
        );
      }
      req.headers['x-forwarded-for'] = forwardedFor(req, Boolean(opts.httpStreamUri));
      return opts.httpStreamUri
        ? invokeStreaming(route, req, res, url, match.params)
        : invokeBuffered(route, req, res, url, match.params);
    }
    if (pathMatched) return sendProblem(res, 405, 'Method Not Allowed', `${method} is not supported here.`);
    if (opts.siteDir && serveStatic(req, res, url.pathname, prefix, opts.siteDir)) return;
    sendProblem(res, 404, 'Not Found', 'No function serves this route.');
  }

  function authorised(route: HttpRoute, req: http.IncomingMessage, url: URL): boolean {
    if (!opts.functionKey || route.authLevel === 'anonymous') return true;
    const given =
      (req.headers['x-functions-key'] as string | undefined) ?? url.searchParams.get('code') ?? '';
    const a = Buffer.from(given);
    const b = Buffer.from(opts.functionKey);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  async function invokeBuffered(
    route: HttpRoute,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    params: Record<string, string>,
  ): Promise<void> {
    const body = await readBody(req, MAX_BUFFERED_BODY);
    if (body === 'too-large') {
      return sendProblem(res, 413, 'Payload Too Large', 'The request body exceeds the host limit.');
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = String(v);
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const response = await invoke(route.fn, {
      inputData: [
        {
          name: route.bindingName,
          data: {
            http: { method: req.method, url: url.toString(), headers, query, params, body: { bytes: body } },
          },
        },
      ],
      triggerMetadata: {},
    }).catch((err: unknown) => {
      opts.log(
        `Function "${route.fn.metadata.name}" failed: ${err instanceof Error ? err.message : String(err)}`,
      );
      return undefined;
    });
    if (!response) return sendProblem(res, 500, 'Internal Server Error', 'The function failed.');
    const out = (response.returnValue as { http?: RpcHttpResponse } | null | undefined)?.http;
    if (!out) {
      res.statusCode = 204;
      res.end();
      return;
    }
    res.statusCode = Number(out.statusCode ?? 200);
    for (const [k, v] of Object.entries(out.headers ?? {})) res.setHeader(k, v);
    const cookies = (out.cookies ?? []).map(serializeCookie);
    if (cookies.length) res.setHeader('set-cookie', cookies);
    const bytes =
      out.body?.bytes ?? (out.body?.string !== undefined ? Buffer.from(out.body.string) : undefined);
    res.end(bytes ? Buffer.from(bytes) : undefined);
  }

  /**
   * Stream mode, as the real host does it: forward the raw request to the library's proxy tagged
   * with x-ms-invocation-id, start the invocation (whose getArguments picks the proxied request
   * up), and relay the proxy's answer chunk by chunk. The library answers the proxied request only
   * when the handler returns a response, so the host answers for it when the handler throws (500)
   * or returns nothing (204, as in buffered mode).
   */
  async function invokeStreaming(
    route: HttpRoute,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    params: Record<string, string>,
  ): Promise<void> {
    if (Number(req.headers['content-length'] ?? 0) > MAX_BUFFERED_BODY) {
      req.resume();
      return sendProblem(res, 413, 'Payload Too Large', 'The request body exceeds the host limit.');
    }
    const invocationId = randomUUID();
    const triggerMetadata: Record<string, Record<string, unknown>> = {
      Headers: { json: JSON.stringify(req.headers) },
    };
    for (const [k, v] of Object.entries(params)) triggerMetadata[k] = { string: v };
    // A declared length (or no body) cannot outgrow the check above, so the size guard below is
    // not needed and the request can go to the library directly.
    if (opts.httpStreamServer && req.headers['transfer-encoding'] === undefined) {
      return invokeInProcess(route, req, res, invocationId, triggerMetadata, opts.httpStreamServer);
    }
    const proxyUrl = new URL(url.pathname + url.search, opts.httpStreamUri);

    const proxyReq = http.request(proxyUrl, {
      method: req.method,
      agent: proxyAgent,
      headers: {
        ...withoutHopByHop(req.headers),
        'x-ms-invocation-id': invocationId,
        'x-forwarded-host': req.headers.host ?? `${opts.host}:${port}`,
        'x-forwarded-proto': 'http',
      },
    });
    // Settles when the function's response has been relayed, or the proxy exchange failed.
    const relayed = new Promise<'done' | 'failed'>((resolve) => {
      proxyReq.on('response', (proxyRes) => {
        res.writeHead(proxyRes.statusCode ?? 200, responseHeaders(proxyRes.headers));
        // Streamed responses (SSE) must reach the client chunk by chunk.
        res.flushHeaders();
        proxyRes.pipe(res);
        proxyRes.on('end', () => resolve('done'));
        proxyRes.on('error', () => resolve('failed'));
        proxyRes.on('close', () => resolve(proxyRes.complete ? 'done' : 'failed'));
      });
      proxyReq.on('error', () => resolve('failed'));
    });
    // A client that goes away takes the proxied exchange with it.
    res.on('close', () => {
      if (!res.writableFinished) proxyReq.destroy();
    });
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > MAX_BUFFERED_BODY) {
        proxyReq.destroy();
        if (!res.headersSent)
          sendProblem(res, 413, 'Payload Too Large', 'The request body exceeds the host limit.');
        req.destroy();
      }
    });
    req.pipe(proxyReq);

    const invocation = invokeStreamed(route, invocationId, triggerMetadata);
    // If the proxy exchange fails before the library got the request, the invocation would wait
    // for it forever: answer now and leave the invocation behind.
    const first = await Promise.race([invocation, relayed]);
    if (first === 'failed' && !res.headersSent) {
      if (!res.writableEnded) sendProblem(res, 502, 'Bad Gateway', 'The function worker did not answer.');
      return;
    }
    const outcome = first === 'done' || first === 'failed' ? await invocation : first;
    const answered = !noResponse.delete(invocationId);
    if (outcome === 'threw' || !answered) {
      proxyReq.destroy();
      if (res.headersSent) {
        if (!res.writableEnded) res.destroy();
      } else if (outcome === 'threw') {
        sendProblem(res, 500, 'Internal Server Error', 'The function failed.');
      } else {
        res.statusCode = 204;
        res.end();
      }
      return;
    }
    await relayed;
  }

  /**
   * Stream mode without the loopback hop: the library's proxy server gets the client's own
   * request and response objects (emitted as its 'request' event, tagged with the invocation id
   * and the forwarded host/proto it expects), reads the body from the request and writes its
   * answer straight to the client. Saves a loopback HTTP exchange per request in this process
   * (bench: ~1/3 of the runner's CPU on a request that needs no I/O) and the keep-alive races of a
   * pooled connection to the proxy. The runner still answers when the handler throws (500) or
   * returns nothing (204).
   */
  async function invokeInProcess(
    route: HttpRoute,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    invocationId: string,
    triggerMetadata: Record<string, Record<string, unknown>>,
    proxyServer: http.Server,
  ): Promise<void> {
    req.headers['x-ms-invocation-id'] = invocationId;
    req.headers['x-forwarded-host'] = req.headers.host ?? `${opts.host}:${port}`;
    req.headers['x-forwarded-proto'] = 'http';
    // The library tags its answer with the invocation id; that is between host and worker.
    const setHeader = res.setHeader;
    res.setHeader = function (name: string, value: number | string | readonly string[]) {
      if (name.toLowerCase() === 'x-ms-invocation-id') return this;
      return setHeader.call(this, name, value);
    };
    proxyServer.emit('request', req, res);
    const outcome = await invokeStreamed(route, invocationId, triggerMetadata);
    const answered = !noResponse.delete(invocationId);
    if (outcome === 'returned' && answered) return;
    if (res.headersSent) {
      if (!res.writableEnded) res.destroy();
    } else if (outcome === 'threw') {
      sendProblem(res, 500, 'Internal Server Error', 'The function failed.');
    } else {
      req.resume();
      res.statusCode = 204;
      res.end();
    }
  }

  /** Runs a stream-mode invocation (the request reaches it through the proxy); says how it ended. */
  function invokeStreamed(
    route: HttpRoute,
    invocationId: string,
    triggerMetadata: Record<string, Record<string, unknown>>,
  ): Promise<'returned' | 'threw'> {
    return invoke(
      route.fn,
      { inputData: [{ name: route.bindingName, data: {} }], triggerMetadata },
      invocationId,
    ).then(
      () => 'returned' as const,
      (err: unknown) => {
        opts.log(
          `Function "${route.fn.metadata.name}" failed: ${err instanceof Error ? err.message : String(err)}`,
        );
        return 'threw' as const;
      },
    );
  }

  let port = opts.port;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const url = `http://${opts.host}:${port}`;
  return {
    url,
    port,
    routes: routes.map((r) => ({
      name: r.fn.metadata.name,
      methods: r.methods ? [...r.methods] : ['ANY'],
      url: `${url}/${r.template.template}`,
      authLevel: r.authLevel,
    })),
    close: () =>
      new Promise<void>((resolve) => {
        hook?.dispose();
        proxyAgent.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface RpcHttpResponse {
  statusCode?: string | number;
  headers?: Record<string, string>;
  cookies?: Array<Record<string, unknown>>;
  body?: { bytes?: Uint8Array; string?: string };
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);

/** Request headers for the proxied request: the framing is the new connection's own. */
function withoutHopByHop(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

/** The proxy's response headers minus its own framing and the invocation id. */
function responseHeaders(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out = withoutHopByHop(headers);
  delete out['x-ms-invocation-id'];
  return out;
}

function serializeCookie(c: Record<string, unknown>): string {
  let s = `${String(c.name)}=${String(c.value)}`;
  if (c.path) s += `; Path=${String(c.path)}`;
  if (c.domain) s += `; Domain=${String(c.domain)}`;
  if (c.httpOnly) s += '; HttpOnly';
  if (c.secure) s += '; Secure';
  return s;
}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? 'too-large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function sendProblem(res: http.ServerResponse, status: number, title: string, detail: string): void {
  res.writeHead(status, { 'content-type': 'application/problem+json' });
  res.end(JSON.stringify({ type: 'about:blank', title, status, detail }));
}

/** Like Azure's front end: the caller's address appended to any `X-Forwarded-For` it sent. */
/**
 * X-Forwarded-For as the function sees it. With HTTP streaming the host forwards each request
 * through its YARP proxy, whose X-Forwarded transform REPLACES the header with the peer it saw
 * (dotnet/yarp#1804; ../shared/notes/azure-fidelity-audit.md §7): whatever the client sent is
 * gone, and everyone behind one gateway (or, under `func start`, everyone on loopback) has one
 * address. Without streaming the platform appends the peer to what was sent.
 */
function forwardedFor(req: http.IncomingMessage, streaming: boolean): string {
  const address = req.socket.remoteAddress ?? 'unknown';
  if (streaming) return address;
  const sent = req.headers['x-forwarded-for'];
  return sent ? `${Array.isArray(sent) ? sent.join(', ') : sent}, ${address}` : address;
}

/** A name or IPv4 address, or a bracketed IPv6 address, with an optional port. */
const HOST_HEADER = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** The request's URL, or undefined when its Host header is not a valid host[:port]. */
function requestUrl(req: http.IncomingMessage, fallbackHost: string): URL | undefined {
  const host = req.headers.host ?? fallbackHost;
  if (!HOST_HEADER.test(host)) return undefined;
  try {
    return new URL(req.url ?? '/', `http://${host}`);
  } catch {
    return undefined; // e.g. a port above 65535
  }
}

const CORS_METHODS = 'GET, POST, PUT, DELETE, OPTIONS';
const CORS_HEADERS = 'authorization, content-type, last-event-id, x-functions-key';
/** Answer headers a page may read: created resources, rate limits, replays. */
const CORS_EXPOSED = 'location, retry-after, idempotent-replayed';

/**
 * Adds CORS headers for an allowed Origin; answers its preflight (true). No Origin, or one not
 * allowed: nothing is added, so the browser refuses the answer, as it would on Azure.
 */
function applyCors(req: http.IncomingMessage, res: http.ServerResponse, allowed: string[]): boolean {
  const origin = req.headers.origin;
  if (!origin || allowed.length === 0 || (!allowed.includes('*') && !allowed.includes(origin))) return false;
  res.setHeader('access-control-allow-origin', allowed.includes('*') ? '*' : origin);
  res.setHeader('vary', 'origin');
  res.setHeader('access-control-expose-headers', CORS_EXPOSED);
  if (req.method !== 'OPTIONS' || !req.headers['access-control-request-method']) return false;
  req.resume();
  res.writeHead(204, {
    'access-control-allow-methods': CORS_METHODS,
    'access-control-allow-headers': CORS_HEADERS,
    'access-control-max-age': '600',
  });
  res.end();
  return true;
}
