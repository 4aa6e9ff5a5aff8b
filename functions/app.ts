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
app.hook.appStart(async () => {
  await services.ready();
});
