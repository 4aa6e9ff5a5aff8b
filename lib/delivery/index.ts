/**
 * The delivery side (catch-up, long-poll, SSE, presence) as one part of the app's services:
 * lib/services.ts builds it with everything else, so there is one composition root.
 */
import type { PageSource, PresenceHub, PresenceStore } from '../ports';
import { PresenceTracker } from './presence';
import type { DeliveryConfig } from '../config';
import { readEnvelopes, type ReadResult } from './eventLog';
import { EnvelopeWatcher } from './watcher';

export { RetentionGapError } from './eventLog';

export interface Delivery {
  config: DeliveryConfig;
  pages: PageSource;
  watcher: EnvelopeWatcher;
  presence: PresenceTracker;
  /** Envelopes after `after` (see readEnvelopes); waits up to `waitMs` for some when there are none. */
  read(meetingId: string, after: number, limit: number, waitMs?: number): Promise<ReadResult>;
}

export function createDelivery(deps: {
  config: DeliveryConfig;
  /** The adapters (lib/services.ts builds them): envelope pages, presence documents, the hub. */
  pages: PageSource;
  presence: PresenceStore;
  hub: PresenceHub;
}): Delivery {
  const { config, pages } = deps;
  const log = (m: string) => console.warn(`[delivery] ${m}`);
  const watcher = new EnvelopeWatcher(pages, config.waitPollMs, log);
  const presence = new PresenceTracker({
    store: deps.presence,
    hub: deps.hub,
    graceMs: config.presenceGraceMs,
    verifyMs: config.presenceVerifyMs,
    log,
  });
  return {
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
}
