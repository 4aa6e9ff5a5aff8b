import { app, type InvocationContext } from '@azure/functions';
import { getServices } from '../lib/services';

const services = getServices();
/** Windows are at most 5 minutes long: a meeting quiet for longer has nothing left to move. */
const QUIET_AFTER_MS = 6 * 60_000;

/**
 * Keeps sliding windows moving in quiet meetings: pushes analytics that changed with time alone
 * (and any pushes a hub outage left pending). Only what changed is committed and pushed.
 */
export async function tickMeetings(_timer: unknown, context: InvocationContext): Promise<void> {
  await services.ready();
  const meetings = await services.states.activeMeetings(QUIET_AFTER_MS);
  const envelopes = await services.processor.tick(meetings);
  if (envelopes > 0) context.debug(`tick: ${envelopes} envelope(s) for ${meetings.length} active meeting(s)`);
}

app.timer('tickMeetings', { schedule: services.config.tickSchedule, handler: tickMeetings });
