/**
 * Composition root: builds the process-wide clients and services from the configuration once.
 * Function modules call getServices() at load time so a bad configuration stops the app at start.
 */
import {
  CosmosMeetingStore,
  CosmosPageSource,
  CosmosPresenceStore,
  CosmosStateStore,
  readEventLog,
  createCosmosContainers,
  ensureCosmosResources,
  verifyCosmosResources,
  type CosmosContainers,
} from './adapters/cosmos';
import type { ConnectionOptions } from './adapters/identity';
import { WebPubSubGateway } from './adapters/webPubSub';
import { HopMeter } from './processing/latency';
import { getConfig, type Config } from './config';
import { createDelivery, type Delivery } from './delivery';
import { notFound } from './errors';
import type { ParkedDocument } from './protocol';
import { MeetingService } from './meetings';
import { MeetingProcessor, type ProcessorState } from './processing/processor';
import { rebuildMeeting, type RebuildResult } from './processing/rebuild';

export interface Services {
  config: Config;
  cosmos: CosmosContainers;
  states: CosmosStateStore<ProcessorState>;
  gateway: WebPubSubGateway;
  meetings: MeetingService;
  processor: MeetingProcessor;
  /** Catch-up, long-poll, SSE and presence: built here too, so there is one composition root. */
  delivery: Delivery;
  /** The one clock handlers read (epoch ms): tests and the processor agree on "now". */
  clock: () => number;
  /** This instance's hop latency meter (lib/processing/latency.ts): the health view reads it. */
  meter: HopMeter;
  /**
   * Recomputes a meeting from its event log and compares it with the live state (operators);
   * `parked` lists its change-feed documents set aside after failures. 404 for unknown meetings.
   */
  rebuild(
    meetingId: string,
    options: { apply: boolean },
  ): Promise<RebuildResult & { parked: ParkedDocument[] }>;
  /**
   * Resolves when the database and containers exist as the code needs them (created first when
   * allowed); rejects saying exactly what is missing or wrong.
   */
  ready(): Promise<void>;
}

let services: Services | undefined;

/** The process-wide services, from the process-wide configuration. */
export function getServices(): Services {
  services ??= createServices(getConfig());
  return services;
}

/**
 * Builds the services from a configuration. `options` replaces what would otherwise come from the
 * settings: tests inject a credential (tokens from a test issuer) and an agent trusting a test CA.
 */
export function createServices(config: Config, options: ConnectionOptions = {}): Services {
  const cosmos = createCosmosContainers(config, options);
  const gateway = new WebPubSubGateway(config, options);
  const clock = () => Date.now();
  const meter = new HopMeter();
  let ready: Promise<void> | undefined;
  const states = new CosmosStateStore<ProcessorState>(cosmos.meetings, clock);
  return {
    config,
    cosmos,
    states,
    gateway,
    meetings: new MeetingService({
      store: new CosmosMeetingStore(cosmos),
      access: gateway,
      tokenSecret: config.tokens.secret,
      tokenTtlMinutes: config.tokens.ttlMinutes,
      rateLimits: config.rateLimits,
      clock,
      meter,
    }),
    processor: new MeetingProcessor({
      store: states,
      publisher: gateway,
      clock,
      retentionSeconds: config.retentionDays * 86_400,
      log: (m) => console.warn(`[processor] ${m}`),
      meter,
    }),
    delivery: createDelivery({
      config: config.delivery,
      pages: new CosmosPageSource(cosmos.meetings),
      presence: new CosmosPresenceStore(cosmos.meetings, cosmos.events),
      hub: gateway.client,
    }),
    clock,
    meter,
    async rebuild(meetingId, { apply }) {
      const [events, stored, parked] = await Promise.all([
        readEventLog(cosmos.events, meetingId),
        states.load(meetingId),
        states.parked(meetingId),
      ]);
      if (!stored && events.length === 0) throw notFound('No such meeting.');
      const result = await rebuildMeeting({ meetingId, events, stored, now: clock(), apply, store: states });
      return { ...result, parked };
    },
    ready: () => {
      ready ??= (async () => {
        if (config.cosmos.createIfNotExists) await ensureCosmosResources(config, cosmos.client);
        await verifyCosmosResources(config, cosmos.client);
      })().catch((err: unknown) => {
        ready = undefined; // try again on the next call
        throw err;
      });
      return ready;
    },
  };
}
