/**
 * App-wide registration: make sure the database and containers exist before triggers run
 * (the local runner awaits appStart hooks; on Azure, handlers also await ready()).
 */
import { app } from '@azure/functions';
import { getServices } from '../lib/services';

const services = getServices();
app.hook.appStart(async () => {
  await services.ready();
});
