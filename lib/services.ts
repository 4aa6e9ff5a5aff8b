/**
 * Composition root: builds the process-wide clients and services from the configuration once.
 * Function modules call getServices() at load time so a bad configuration stops the app at start.
 */
import {
  CosmosMeetingStore,
  CosmosStateStore,
  createCosmosContainers,
  ensureCosmosResources,
  type CosmosContainers,
} from './adapters/cosmos';
import { WebPubSubGateway } from './adapters/webPubSub';
import { getConfig, type Config } from './config';
import { MeetingService } from './meetings';
import { MeetingProcessor, type ProcessorState } from './processing/processor';

export interface Services {
  config: Config;
  cosmos: CosmosContainers;
  states: CosmosStateStore<ProcessorState>;
  gateway: WebPubSubGateway;
  meetings: MeetingService;
  processor: MeetingProcessor;
  /** Resolves when the database and containers exist (created on first use when allowed). */
  ready(): Promise<void>;
}

let services: Services | undefined;

export function getServices(): Services {
  if (services) return services;
  const config = getConfig();
  const cosmos = createCosmosContainers(config);
  const gateway = new WebPubSubGateway(config);
  const clock = () => Date.now();
  let ready: Promise<void> | undefined;
  const states = new CosmosStateStore<ProcessorState>(cosmos.meetings, clock);
  services = {
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
    }),
    processor: new MeetingProcessor({
      store: states,
      publisher: gateway,
      clock,
      retentionSeconds: config.retentionDays * 86_400,
      log: (m) => console.warn(`[processor] ${m}`),
    }),
    ready: () => {
      ready ??= config.cosmos.createIfNotExists
        ? ensureCosmosResources(config, cosmos.client).catch((err: unknown) => {
            ready = undefined; // try again on the next call
            throw err;
          })
        : Promise.resolve();
      return ready;
    },
  };
  return services;
}
