/**
 * The HTTP edge shared by every function: reading JSON bodies safely, bearer tokens, and turning
 * any thrown ProblemError (or unexpected failure) into an `application/problem+json` response.
 */
import type { HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { ProblemError, toProblem } from '../errors';

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

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads a JSON body: 415 unless application/json, 413 past `maxBytes`, 400 if not valid UTF-8 JSON. */
export async function readJson(req: HttpRequest, maxBytes: number): Promise<unknown> {
  const type = (req.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new ProblemError(415, 'Unsupported Media Type', 'Send the body as application/json.');
  }
  const declared = Number(req.headers.get('content-length') ?? 0);
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const bytes = new Uint8Array(await req.arrayBuffer());
  if (bytes.byteLength > maxBytes) throw tooLarge(maxBytes);
  if (bytes.byteLength === 0) throw new ProblemError(400, 'Bad Request', 'The request body is empty.');
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new ProblemError(400, 'Bad Request', 'The request body is not valid UTF-8.');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ProblemError(400, 'Bad Request', 'The request body is not valid JSON.');
  }
}

function tooLarge(maxBytes: number): ProblemError {
  return new ProblemError(413, 'Payload Too Large', `The request body must be at most ${maxBytes} bytes.`);
}

export function bearerToken(req: HttpRequest): string | undefined {
  const header = req.headers.get('authorization');
  const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return m?.[1];
}
