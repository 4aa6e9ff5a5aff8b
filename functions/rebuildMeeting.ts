import { app } from '@azure/functions';
import { z } from 'zod';
import { meetingParams, parse } from '../lib/domain/validation';
import { httpHandler, json, parseQuery } from '../lib/http/handler';
import { rebuildQuery } from '../lib/http/queries';
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
  const { meetingId } = parse(meetingParams, req.params, 'path');
  // `code` is the admin key's query form, which the platform checks before we run.
  const { apply } = parseQuery(req, rebuildQuery.extend({ code: z.string().optional() }));
  await services.ready();
  // The comparison is the answer either way; `equal` and `differences` say how it came out.
  return json(200, await services.rebuild(meetingId, { apply: apply === 'true' }));
});

app.http('rebuildMeeting', {
  route: 'ops/meetings/{meetingId}/rebuild',
  methods: ['POST'],
  authLevel: 'admin',
  handler: rebuildMeetingHandler,
});
