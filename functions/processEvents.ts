import { app, type InvocationContext } from '@azure/functions';
import { getServices } from '../lib/services';

const services = getServices();
const { cosmos, changeFeed } = services.config;

/**
 * The change-feed function: every document of every batch, per meeting in feed order, becomes
 * state + sequenced envelopes (see lib/processing/processor.ts). A thrown error makes the trigger
 * deliver the same batch again (retry policy below), which the processor recognises by LSN, so
 * nothing is lost or applied twice. Transient failures (throttling, timeouts, 5xx, no access) are
 * retried without limit; a permanent one (a reducer bug, a document Cosmos DB refuses) is parked
 * after a few retries so the feed range moves on (lib/processing/failures.ts).
 */
export async function processEvents(documents: unknown[], context: InvocationContext): Promise<void> {
  await services.ready();
  const report = await services.processor.processBatch(documents, {
    retryCount: context.retryContext?.retryCount,
  });
  if (report.poison > 0) context.warn(`skipped ${report.poison} poison document(s)`);
  if (report.parked > 0) context.error(`parked ${report.parked} document(s) after repeated failures`);
}

app.cosmosDB('processEvents', {
  connection: cosmos.connectionSetting,
  databaseName: cosmos.database,
  containerName: cosmos.eventsContainer,
  leaseContainerName: cosmos.leasesContainer,
  // Under an identity the data plane cannot create containers (the trigger would fail on a 403);
  // the leases container then comes from the infrastructure, like the others.
  createLeaseContainerIfNotExists: cosmos.createIfNotExists,
  startFromBeginning: true,
  feedPollDelay: changeFeed.pollDelayMs,
  maxItemsPerInvocation: changeFeed.maxItemsPerInvocation,
  // Whole seconds: the library rounds milliseconds (100 ms would reach the host as 0 s, and a
  // failing batch would be retried back to back forever, stalling its partition).
  retry: {
    strategy: 'exponentialBackoff',
    maxRetryCount: -1,
    minimumInterval: { seconds: 1 },
    maximumInterval: { minutes: 1 },
  },
  handler: processEvents,
});
