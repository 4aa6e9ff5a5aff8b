import { app } from '@azure/functions';
import { readEventLog } from '../lib/adapters/eventLog';
import { notFound } from '../lib/errors';
import { httpHandler, json } from '../lib/http/handler';
import { rebuildMeeting } from '../lib/processing/rebuild';
import { getServices } from '../lib/services';

const services = getServices();

/**
 * POST /api/ops/meetings/{meetingId}/rebuild[?apply=true] — operators only (admin key).
 * Recomputes the meeting's state and analytics from its event log alone and compares them with
 * the live state; with apply=true replaces a diverged live model (only when processing is caught up).
 * `parked` lists the meeting's change-feed documents the processor set aside after failures
 * retrying could not fix (a rebuild with apply=true folds them back in from the event log).
 */
export const rebuildMeetingHandler = httpHandler(async (req) => {
  const meetingId = req.params.meetingId ?? '';
  await services.ready();
  const [events, stored, parked] = await Promise.all([
    readEventLog(services.cosmos.events, meetingId),
    services.states.load(meetingId),
    services.states.parked(meetingId),
  ]);
  if (!stored && events.length === 0) throw notFound('No such meeting.');
  const result = await rebuildMeeting({
    meetingId,
    events,
    stored,
    now: Date.now(),
    apply: req.query.get('apply') === 'true',
    store: services.states,
  });
  // The comparison is the answer either way; `equal` and `differences` say how it came out.
  return json(200, { ...result, parked });
});

app.http('rebuildMeeting', {
  route: 'ops/meetings/{meetingId}/rebuild',
  methods: ['POST'],
  authLevel: 'admin',
  handler: rebuildMeetingHandler,
});
