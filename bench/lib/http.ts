/**
 * A small keep-alive JSON client over node:http (cheaper per request than fetch, which matters
 * when the load generator shares two cores with the system under test).
 */
import * as http from 'node:http';

export interface JsonResponse<T = unknown> {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: T;
}

export class JsonClient {
  readonly agent: http.Agent;
  private readonly host: string;
  private readonly port: number;
  private readonly prefix: string;

  constructor(baseUrl: string, maxSockets = 64) {
    const url = new URL(baseUrl);
    this.host = url.hostname;
    this.port = Number(url.port);
    this.prefix = url.pathname.replace(/\/+$/, '');
    this.agent = new http.Agent({ keepAlive: true, maxSockets, keepAliveMsecs: 10_000 });
  }

  request<T = Record<string, unknown>>(
    method: string,
    route: string,
    opts: { token?: string; body?: unknown; timeoutMs?: number } = {},
  ): Promise<JsonResponse<T>> {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: http.OutgoingHttpHeaders = {};
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(payload);
    }
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: this.host, port: this.port, method, path: this.prefix + route, headers, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown = text;
            if (text.length > 0 && (text[0] === '{' || text[0] === '[')) {
              try {
                body = JSON.parse(text);
              } catch {
                // keep the text
              }
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: body as T });
          });
          res.on('error', reject);
        },
      );
      req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error('request timed out')));
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Runs `work` over `items` with at most `limit` in flight. */
export async function pool<T, R>(
  items: T[],
  limit: number,
  work: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
