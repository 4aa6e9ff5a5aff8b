/**
 * Upstream event delivery, shaped like the real service's CloudEvents HTTP webhook (binary mode):
 * `ce-*` headers, JSON or raw body, and `ce-signature` so the upstream can check the sender.
 */
import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { BillingMeter } from './billing';

export const SYSTEM_EVENTS = ['connect', 'connected', 'disconnected'] as const;
export type SystemEventName = (typeof SYSTEM_EVENTS)[number];

export interface EventHandlerSettings {
  hub: string;
  /** Upstream URL; `{hub}` and `{event}` are substituted like the real service's URL templates. */
  url: string;
  /** Default: connected and disconnected. */
  systemEvents?: SystemEventName[];
  /** Default: none. */
  userEvents?: '*' | string[];
}

export interface UpstreamTarget {
  hub: string;
  connectionId: string;
  userId: string | undefined;
  subprotocol: string | undefined;
  signature: string;
  /** The connection's state as the upstream last set it (`ce-connectionState`), if any. */
  connectionState: string | undefined;
}

export interface UpstreamResponse {
  status: number;
  contentType: string | undefined;
  /** The `ce-connectionState` answer header: replaces the connection's state (empty included). */
  connectionState: string | undefined;
  /** The upstream sent `ce-connectionState` more than once, which the service does not allow. */
  repeatedState: boolean;
  body: Buffer;
}

export interface UpstreamOptions {
  /** Per-attempt timeout. */
  timeoutMs: number;
  /** Attempts in total for transport errors, timeouts and 5xx answers. */
  attempts: number;
}

const SYSTEM_DEFAULTS: SystemEventName[] = ['connected', 'disconnected'];
/**
 * System events are posted once: the service only logs a failed `connected`/`disconnected`, and a
 * failed `connect` refuses the client. User events are retried on 5xx and transport errors with the
 * same `ce-id`, as Microsoft's emulator does (its `RetryReusesIdentity…` test).
 */
const USER_EVENT_ATTEMPTS = 3;
const RETRY_DELAYS_MS = [200, 1000];

export function eventSignature(accessKey: string, connectionId: string): string {
  return 'sha256=' + createHmac('sha256', accessKey).update(connectionId).digest('hex');
}

export class UpstreamClient {
  private readonly byHub = new Map<string, EventHandlerSettings>();
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 32 });
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly sleepers = new Set<() => void>();
  private closing = false;

  constructor(
    settings: EventHandlerSettings[],
    /** Value of `WebHook-Request-Origin`: who is calling. */
    private readonly origin: string,
    private readonly defaults: Omit<UpstreamOptions, 'attempts'> = { timeoutMs: 5000 },
    /** Every call made is outbound traffic the service bills (billing.ts). */
    private readonly meter?: BillingMeter,
  ) {
    for (const s of settings) this.byHub.set(s.hub.toLowerCase(), s);
  }

  handlesSystem(hubKey: string, event: SystemEventName): boolean {
    const s = this.byHub.get(hubKey);
    return s !== undefined && (s.systemEvents ?? SYSTEM_DEFAULTS).includes(event);
  }

  handlesUser(hubKey: string, event: string): boolean {
    const s = this.byHub.get(hubKey);
    if (s === undefined) return false;
    // Like the service's user event pattern, user events are opt-in.
    const user = s.userEvents ?? [];
    return user === '*' || user.includes('*') || user.includes(event);
  }

  /**
   * Posts one CloudEvent (system events once, user events with bounded retries). Resolves with the
   * final answer, or `undefined` if every attempt failed (errors are swallowed: upstream trouble
   * must never break the hub).
   */
  post(
    hubKey: string,
    target: UpstreamTarget,
    event: { system: SystemEventName } | { user: string },
    body: { contentType: string; data: Buffer | string },
    options: Partial<UpstreamOptions> = {},
  ): Promise<UpstreamResponse | undefined> {
    const settings = this.byHub.get(hubKey);
    if (settings === undefined || this.closing) return Promise.resolve(undefined);
    const eventName = 'system' in event ? event.system : event.user;
    const type =
      'system' in event ? `azure.webpubsub.sys.${event.system}` : `azure.webpubsub.user.${event.user}`;
    const url = new URL(
      settings.url
        .replace(/\{hub\}/g, encodeURIComponent(target.hub))
        .replace(/\{event\}/g, encodeURIComponent(eventName)),
    );
    const payload = typeof body.data === 'string' ? Buffer.from(body.data, 'utf8') : body.data;
    const headers: Record<string, string> = {
      'content-type': body.contentType,
      'content-length': String(payload.length),
      'ce-specversion': '1.0',
      'ce-type': type,
      'ce-source': `/hubs/${target.hub}/client/${target.connectionId}`,
      'ce-id': randomUUID(),
      'ce-time': new Date().toISOString(),
      'ce-awpsversion': '1.0',
      'ce-hub': target.hub,
      'ce-connectionId': target.connectionId,
      'ce-eventName': eventName,
      'ce-signature': target.signature,
      'webhook-request-origin': this.origin,
    };
    if (target.userId !== undefined) headers['ce-userId'] = headerSafe(target.userId);
    if (target.subprotocol !== undefined) headers['ce-subprotocol'] = target.subprotocol;
    if (target.connectionState !== undefined) headers['ce-connectionState'] = target.connectionState;
    const opts = { attempts: 'system' in event ? 1 : USER_EVENT_ATTEMPTS, ...this.defaults, ...options };
    const bill = (): void => this.meter?.upstream(hubKey, eventName, payload.length);
    const p = this.attempt(url, headers, payload, opts, 1, bill);
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  /** Lets in-flight deliveries finish (up to `graceMs`), then drops pooled sockets. */
  async close(graceMs = 2000): Promise<void> {
    this.closing = true;
    for (const wake of this.sleepers) wake();
    if (this.inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.inFlight]),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
      ]);
      clearTimeout(timer);
    }
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private async attempt(
    url: URL,
    headers: Record<string, string>,
    payload: Buffer,
    opts: UpstreamOptions,
    attempt: number,
    bill: () => void,
  ): Promise<UpstreamResponse | undefined> {
    let response: UpstreamResponse | undefined;
    try {
      // Each attempt sends the event again, so each is billed (an assumption; README).
      bill();
      response = await this.request(url, headers, payload, opts.timeoutMs);
      if (response.status < 500) return response;
    } catch {
      // Transport error or timeout: retried below.
    }
    if (attempt >= opts.attempts || this.closing) return response;
    await this.sleep(RETRY_DELAYS_MS[attempt - 1] ?? 1000);
    if (this.closing) return response;
    return this.attempt(url, headers, payload, opts, attempt + 1, bill);
  }

  /** A retry back-off that `close()` can cut short. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  private request(
    url: URL,
    headers: Record<string, string>,
    payload: Buffer,
    timeoutMs: number,
  ): Promise<UpstreamResponse> {
    const secure = url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(
        url,
        { method: 'POST', headers, agent: secure ? this.httpsAgent : this.httpAgent, timeout: timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size <= 1 << 20) chunks.push(c);
          });
          res.on('end', () => {
            const states: string[] = [];
            for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
              if (res.rawHeaders[i]!.toLowerCase() === 'ce-connectionstate')
                states.push(res.rawHeaders[i + 1]!);
            }
            resolve({
              status: res.statusCode ?? 0,
              contentType: res.headers['content-type'],
              connectionState: states[0],
              repeatedState: states.length > 1,
              body: Buffer.concat(chunks),
            });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('upstream timed out')));
      req.on('error', reject);
      req.end(payload);
    });
  }
}

/**
 * Header values must be printable ASCII: anything else (and any `%`, so decoding is unambiguous) is
 * sent percent-encoded, for the receiver to `decodeURIComponent`.
 */
function headerSafe(value: string): string {
  return /^[\x20-\x24\x26-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}
