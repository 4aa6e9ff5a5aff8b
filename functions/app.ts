/**
 * App-wide registration: make sure the database and containers exist before triggers run
 * (the local runner awaits appStart hooks; on Azure, handlers also await ready()).
 *
 * HTTP streaming is on for the whole app: Server-Sent Events (functions/streamEvents.ts) need
 * response bodies written as they are produced. With it, EVERY HTTP function's request and
 * response travel through the library's local proxy instead of the worker channel (the host
 * forwards the raw request); handlers are unchanged. Needs Functions host 4.28+.
 */
import { app } from '@azure/functions';
import { getServices } from '../lib/services';

app.setup({ enableHttpStream: true });

const services = getServices();
// Never throw from here: on the real worker a rejected appStart hook fails worker initialisation
// and the host restarts the worker in a loop. Every handler awaits ready() itself, which retries.
app.hook.appStart(async () => {
  try {
    await services.ready();
  } catch (err) {
    // The worker forwards console output to the host's logs (the hook context has no logger).
    console.error(
      `meetstream: start-up check failed (handlers will retry): ${err instanceof Error ? err.message : String(err)}`,
    );
  }
});
