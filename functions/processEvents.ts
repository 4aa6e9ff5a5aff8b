import { app, type InvocationContext } from '@azure/functions';
import { getServices } from '../lib/services';

const services = getServices();
const { cosmos, changeFeed } = services.config;

/**
 * The change-feed function: every document of every batch, per meeting in feed order, becomes
 * state + sequenced envelopes (see lib/processing/processor.ts). A thrown error means a Cosmos DB
 * failure; the retry policy below makes the trigger deliver the same batch again, which the
 * processor recognises by LSN, so nothing is lost or applied twice.
 */
export async function processEvents(documents: unknown[], context: InvocationContext): Promise<void> {
  await services.ready();
  const report = await services.processor.processBatch(documents);
  if (report.poison > 0) context.warn(`skipped ${report.poison} poison document(s)`);
}

app.cosmosDB('processEvents', {
  connection: cosmos.connectionSetting,
  databaseName: cosmos.database,
  containerName: cosmos.eventsContainer,
  leaseContainerName: cosmos.leasesContainer,
  createLeaseContainerIfNotExists: true,
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
