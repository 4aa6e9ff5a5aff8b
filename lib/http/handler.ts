/**
 * The HTTP edge shared by every function: reading JSON bodies safely, bearer tokens, and turning
 * any thrown ProblemError (or unexpected failure) into an `application/problem+json` response.
 */
import type { HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { z } from 'zod';
import { parse } from '../domain/validation';
import {
  ProblemError,
  badRequest,
  payloadTooLarge,
  toProblem,
  unsupportedMediaType,
  type FieldError,
} from '../errors';

export type Handler = (req: HttpRequest, ctx: InvocationContext) => Promise<HttpResponseInit>;

export function httpHandler(handler: Handler): HttpHandler {
  return async (req, ctx) => {
    try {
      return await handler(req, ctx);
    } catch (err) {
      const problem = toProblem(err, (e) =>
        // Message only: stacks and request bodies may carry user data; settings are never included.
        ctx.error(`unexpected failure: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`),
      );
      return { status: problem.status, headers: problem.headers, body: problem.body };
    }
  };
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, jsonBody: body, headers: { 'cache-control': 'no-store', ...headers } };
}

export function noContent(): HttpResponseInit {
  return { status: 204, headers: { 'cache-control': 'no-store' } };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Keys that could reach an object's prototype if a body were ever merged into an object. Every
 * schema is strict anyway; refusing them up front gives one clear error wherever they appear.
 */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** Far deeper than any valid body (`events[i].data.options[j]` is depth 5). */
const MAX_DEPTH = 16;

/** Reads a JSON body: 415 unless application/json (UTF-8), 413 past `maxBytes`, 400 if not valid UTF-8 JSON. */
export async function readJson(req: HttpRequest, maxBytes: number): Promise<unknown> {
  const body = await readOptionalJson(req, maxBytes);
  if (body === undefined) throw badRequest('The request body is empty.', undefined, 'malformed-body');
  return body;
}

/** Like readJson, but an empty body (no bytes at all) reads as undefined. */
export async function readOptionalJson(req: HttpRequest, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers.get('content-length') ?? 0);
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const bytes = new Uint8Array(await req.arrayBuffer());
  if (bytes.byteLength > maxBytes) throw tooLarge(maxBytes);
  if (bytes.byteLength === 0) return undefined;
  const [type, ...params] = (req.headers.get('content-type') ?? '')
    .split(';')
    .map((s) => s.trim().toLowerCase());
  const charset = params
    .find((p) => p.startsWith('charset='))
    ?.slice('charset='.length)
    .replace(/"/g, '');
  if (type !== 'application/json' || (charset !== undefined && charset !== 'utf-8')) {
    throw unsupportedMediaType('Send the body as application/json (UTF-8).');
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw badRequest('The request body is not valid UTF-8.', undefined, 'malformed-body');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest('The request body is not valid JSON.', undefined, 'malformed-body');
  }
  const problem = unsafeJson(value);
  if (problem) throw badRequest('The request body contains a value that is never accepted.', [problem]);
  return value;
}

function tooLarge(maxBytes: number): ProblemError {
  return payloadTooLarge(`The request body must be at most ${maxBytes} bytes.`);
}

/**
 * The first thing in a parsed body that no schema should ever have to consider: prototype keys,
 * nesting deeper than MAX_DEPTH, strings with unpaired surrogates (they cannot be stored as UTF-8
 * unchanged, which would break idempotent replays) or NUL characters. Iterative: bodies may nest deeply.
 */
export function unsafeJson(root: unknown): FieldError | undefined {
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value: root, path: '', depth: 0 }];
  while (stack.length) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === 'string') {
      if (!wellFormed(value)) return { path: path || '(body)', message: 'contains an unpaired surrogate' };
      if (value.includes('\u0000')) return { path: path || '(body)', message: 'contains a NUL character' };
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth >= MAX_DEPTH)
      return { path: path || '(body)', message: `nests deeper than ${MAX_DEPTH} levels` };
    if (Array.isArray(value)) {
      value.forEach((item, i) => stack.push({ value: item, path: `${path}[${i}]`, depth: depth + 1 }));
      continue;
    }
    for (const key of Object.keys(value)) {
      const at = path ? `${path}.${key}` : key;
      if (FORBIDDEN_KEYS.has(key)) return { path: at, message: `the key "${key}" is not allowed` };
      if (!wellFormed(key))
        return { path: path || '(body)', message: 'a key contains an unpaired surrogate' };
      stack.push({ value: (value as Record<string, unknown>)[key], path: at, depth: depth + 1 });
    }
  }
  return undefined;
}

function wellFormed(s: string): boolean {
  return (s as string & { isWellFormed(): boolean }).isWellFormed();
}

export function bearerToken(req: HttpRequest): string | undefined {
  const header = req.headers.get('authorization');
  const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return m?.[1];
}

/**
 * The caller's IP address as the platform reports it: the last `X-Forwarded-For` entry, the one
 * the front end in front of the app appended (entries before it come from the client and can be
 * forged). Ports are dropped. Undefined when there is no such header.
 */
export function clientAddress(req: HttpRequest): string | undefined {
  const last = req.headers.get('x-forwarded-for')?.split(',').pop()?.trim();
  if (!last) return undefined;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(last); // [v6]:port
  if (bracketed) return bracketed[1]!.toLowerCase();
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3})(?::\d+)?$/.exec(last); // v4:port
  if (v4) return v4[1]!;
  return last.toLowerCase().slice(0, 64);
}

/** The query string as a plain object (last value wins), for schema parsing. */
export function queryObject(req: HttpRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of req.query.entries()) out[k] = v;
  return out;
}

/** A problem when a request that takes no body carries one (so typos in routes are not silently ignored). */
export async function expectNoBody(req: HttpRequest, maxBytes = 1024): Promise<void> {
  const body = await readOptionalJson(req, maxBytes);
  if (body === undefined) return;
  if (typeof body === 'object' && body !== null && !Array.isArray(body) && Object.keys(body).length === 0)
    return;
  throw badRequest('This request takes no body (or an empty JSON object).');
}

/**
 * The route's query, parsed by its schema (strict: unknown parameters are a 400 on every route,
 * so a misspelt or foreign parameter is never silently ignored). Routes without parameters use
 * noQuery (lib/http/queries.ts).
 */
export function parseQuery<T>(req: HttpRequest, schema: z.ZodType<T>): T {
  return parse(schema, queryObject(req), 'query');
}
