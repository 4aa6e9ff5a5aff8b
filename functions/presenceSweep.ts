import { app, type InvocationContext } from '@azure/functions';
import { getServices } from '../lib/services';

const services = getServices();
const { delivery } = services;

/**
 * Runs the presence checks that are due: grace periods whose instance went away before its timer
 * fired, periodic verification with the hub, and away/back events still to be written.
 */
export async function presenceSweep(_timer: unknown, context: InvocationContext): Promise<void> {
  await services.ready();
  const checked = await delivery.presence.sweep();
  if (checked > 0) context.debug(`presence: ${checked} check(s) due`);
}

app.timer('presenceSweep', {
  schedule: delivery.config.presenceSweepSchedule,
  handler: presenceSweep,
});
