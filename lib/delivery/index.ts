/**
 * Composition of the delivery side (catch-up, long-poll, SSE, presence) on top of the app's
 * services, built once per process like lib/services.ts.
 */
import { CosmosPresenceStore } from '../adapters/cosmos';
import { badRequest } from '../errors';
import { getServices, type Services } from '../services';
import type { DeliveryConfig } from '../config';
import { CosmosPageSource, readEnvelopes, type ReadResult } from './eventLog';
import { PresenceTracker } from './presence';
import { EnvelopeWatcher } from './watcher';

export { RetentionGapError } from './eventLog';

export interface Delivery {
  services: Services;
  config: DeliveryConfig;
  pages: CosmosPageSource;
  watcher: EnvelopeWatcher;
  presence: PresenceTracker;
  /** Envelopes after `after` (see readEnvelopes); waits up to `waitMs` for some when there are none. */
  read(meetingId: string, after: number, limit: number, waitMs?: number): Promise<ReadResult>;
}

let delivery: Delivery | undefined;

export function getDelivery(): Delivery {
  if (delivery) return delivery;
  const services = getServices();
  const config = services.config.delivery;
  const pages = new CosmosPageSource(services.cosmos.meetings);
  const log = (m: string) => console.warn(`[delivery] ${m}`);
  const watcher = new EnvelopeWatcher(pages, config.waitPollMs, log);
  const presence = new PresenceTracker({
    store: new CosmosPresenceStore(services.cosmos.meetings, services.cosmos.events),
    hub: services.gateway.client,
    graceMs: config.presenceGraceMs,
    verifyMs: config.presenceVerifyMs,
    log,
  });
  delivery = {
    services,
    config,
    pages,
    watcher,
    presence,
    async read(meetingId, after, limit, waitMs = 0) {
      const first = await readEnvelopes(pages, meetingId, after, limit);
      if (first.items.length > 0 || waitMs <= 0) return first;
      if (!(await watcher.wait(meetingId, after, waitMs))) return first;
      return readEnvelopes(pages, meetingId, after, limit);
    },
  };
  return delivery;
}

export const MAX_LIMIT = 1000;
export const DEFAULT_LIMIT = 200;
export const MAX_WAIT_SECONDS = 30;

/** A non-negative integer query value, or `fallback` when absent; 400 otherwise. */
export function intParam(
  name: string,
  raw: string | null | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (raw === null || raw === undefined || raw.trim() === '') return fallback;
  const text = raw.trim();
  const n = /^\d{1,15}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw badRequest(`"${name}" must be an integer from ${min} to ${max}.`, [
      { path: name, message: `must be an integer from ${min} to ${max}` },
    ]);
  }
  return n;
}
