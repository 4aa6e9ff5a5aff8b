/**
 * Fault injection for reliability tests (off unless configured): answer a fraction of requests
 * with 429 Too Many Requests and `x-ms-retry-after-ms`, as Cosmos DB does when a partition runs
 * out of request units. The SDK retries those by itself (9 times by default); what outlasts its
 * retries reaches the app, which must turn it into a 503 and lose nothing.
 *
 * Configure at start with COSMOS_FAULTS, e.g. `throttle=0.2` or `throttle=0.2,retryAfterMs=20,seed=7`,
 * and at run time over HTTP (so a test can throttle only a window of its load):
 *   GET  /_embedded/faults            → {throttle, retryAfterMs, requests, throttled}
 *   POST /_embedded/faults {throttle?, retryAfterMs?}
 * The account read (`GET /`) is never throttled, so clients can always start.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface FaultSettings {
  /** Fraction of requests answered 429, 0 (default) to 1. */
  throttle: number;
  retryAfterMs: number;
  /** Seed for a deterministic choice of which requests; unset = Math.random. */
  seed?: number;
}

export const FAULTS_PATH = '/_embedded/faults';

export function parseFaults(spec: string | undefined): FaultSettings {
  const settings: FaultSettings = { throttle: 0, retryAfterMs: 10 };
  if (!spec?.trim()) return settings;
  for (const part of spec.split(',')) {
    const [key, raw] = part.split('=').map((s) => s.trim());
    const value = Number(raw);
    if (!key || raw === undefined || !Number.isFinite(value))
      throw new Error(`COSMOS_FAULTS: cannot read "${part}"`);
    if (key === 'throttle') {
      if (value < 0 || value > 1) throw new Error('COSMOS_FAULTS: throttle must be between 0 and 1');
      settings.throttle = value;
    } else if (key === 'retryAfterMs') {
      if (value < 0 || value > 60_000) throw new Error('COSMOS_FAULTS: retryAfterMs must be 0..60000');
      settings.retryAfterMs = Math.round(value);
    } else if (key === 'seed') settings.seed = value;
    else throw new Error(`COSMOS_FAULTS: unknown setting "${key}" (throttle, retryAfterMs, seed)`);
  }
  return settings;
}

/** mulberry32: a small deterministic PRNG. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FaultInjector {
  private settings: FaultSettings;
  private random: () => number;
  private requests = 0;
  private throttled = 0;

  constructor(settings: FaultSettings) {
    this.settings = { ...settings };
    this.random = settings.seed === undefined ? Math.random : seeded(settings.seed);
  }

  /**
   * Answers the request itself (control route, or an injected 429) and returns true; false when
   * the request should be served normally.
   */
  intercept(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '/';
    if (url === FAULTS_PATH || url.startsWith(`${FAULTS_PATH}?`)) {
      this.control(req, res);
      return true;
    }
    if (url === '/' || this.settings.throttle <= 0) return false;
    this.requests++;
    if (this.random() >= this.settings.throttle) return false;
    this.throttled++;
    req.resume();
    const body = JSON.stringify({
      code: 'TooManyRequests',
      message: 'Request rate is large (injected by COSMOS_FAULTS).',
    });
    res.writeHead(429, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-ms-retry-after-ms': String(this.settings.retryAfterMs),
      'x-ms-substatus': '3200',
      'x-ms-request-charge': '0',
    });
    res.end(body);
    return true;
  }

  private state() {
    return {
      throttle: this.settings.throttle,
      retryAfterMs: this.settings.retryAfterMs,
      requests: this.requests,
      throttled: this.throttled,
    };
  }

  private control(req: IncomingMessage, res: ServerResponse): void {
    const reply = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
    };
    if (req.method === 'GET') return reply(200, this.state());
    if (req.method !== 'POST') return reply(405, { message: 'GET or POST' });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Partial<FaultSettings>;
        const spec = [
          `throttle=${body.throttle ?? this.settings.throttle}`,
          `retryAfterMs=${body.retryAfterMs ?? this.settings.retryAfterMs}`,
        ].join(',');
        const next = parseFaults(spec);
        this.settings = { ...this.settings, throttle: next.throttle, retryAfterMs: next.retryAfterMs };
        reply(200, this.state());
      } catch (err) {
        reply(400, { message: err instanceof Error ? err.message : String(err) });
      }
    });
  }
}
