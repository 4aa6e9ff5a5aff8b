/**
 * Serves the app's HTTP triggers under host.json's route prefix, like the Functions host.
 * Two modes, chosen by the app: buffered (the request body travels inside the invocation) and
 * HTTP streaming (app.setup({ enableHttpStream: true })), where the library runs its own proxy
 * server and the host forwards the raw request there, tagged with x-ms-invocation-id.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RegisteredFunction } from './functionsCore';
import { invoke, triggerOf } from './invoke';
import { RouteTemplate, splitPath } from './routes';

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
  /** When set, functions with authLevel function/admin require it (`code` query or x-functions-key). */
  functionKey?: string;
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

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      opts.log(`HTTP host error: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) sendProblem(res, 500, 'Internal Server Error', 'The function host failed.');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const base = `http://${req.headers.host ?? `${opts.host}:${port}`}`;
    const url = new URL(req.url ?? '/', base);
    const segments = splitPath(url.pathname);
    if (!segments) return sendProblem(res, 400, 'Bad Request', 'The URL path is not valid percent-encoding.');
    const method = (req.method ?? 'GET').toUpperCase();
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
      return opts.httpStreamUri
        ? invokeStreaming(route, req, res, url, match.params)
        : invokeBuffered(route, req, res, url, match.params);
    }
    if (pathMatched) return sendProblem(res, 405, 'Method Not Allowed', `${method} is not supported here.`);
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

  async function invokeStreaming(
    route: HttpRoute,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    params: Record<string, string>,
  ): Promise<void> {
    const invocationId = randomUUID();
    const proxyUrl = new URL(url.pathname + url.search, opts.httpStreamUri);
    const triggerMetadata: Record<string, Record<string, unknown>> = {
      Headers: { json: JSON.stringify(req.headers) },
    };
    for (const [k, v] of Object.entries(params)) triggerMetadata[k] = { string: v };

    let pendingProxy: http.ClientRequest | undefined;
    // Forward the raw request to the library's proxy; it answers with the function's response.
    const forwarded = new Promise<void>((resolve) => {
      const proxyReq = http.request(
        proxyUrl,
        {
          method: req.method,
          headers: {
            ...req.headers,
            'x-ms-invocation-id': invocationId,
            'x-forwarded-host': req.headers.host ?? `${opts.host}:${port}`,
            'x-forwarded-proto': 'http',
          },
        },
        (proxyRes) => {
          const headers = { ...proxyRes.headers };
          delete headers['x-ms-invocation-id'];
          res.writeHead(proxyRes.statusCode ?? 200, headers);
          // Streamed responses (SSE) must reach the client chunk by chunk.
          res.flushHeaders();
          proxyRes.pipe(res);
          proxyRes.on('end', resolve);
          proxyRes.on('error', resolve);
        },
      );
      proxyReq.on('error', () => resolve());
      res.on('close', () => proxyReq.destroy());
      req.pipe(proxyReq);
      pendingProxy = proxyReq;
    });

    try {
      await invoke(
        route.fn,
        { inputData: [{ name: route.bindingName, data: {} }], triggerMetadata },
        invocationId,
      );
    } catch (err) {
      // The library never answers the proxied request when the handler throws; the host must.
      opts.log(
        `Function "${route.fn.metadata.name}" failed: ${err instanceof Error ? err.message : String(err)}`,
      );
      pendingProxy?.destroy();
      if (!res.headersSent) sendProblem(res, 500, 'Internal Server Error', 'The function failed.');
      else res.destroy();
      return;
    }
    await forwarded;
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
