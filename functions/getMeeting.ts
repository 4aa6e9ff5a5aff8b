import { app } from '@azure/functions';
import { meetingParams, parse } from '../lib/domain/validation';
import { bearerToken, httpHandler, json, parseQuery } from '../lib/http/handler';
import { noQuery } from '../lib/http/queries';
import { getServices } from '../lib/services';

const services = getServices();

/** GET /api/meetings/{meetingId} — the meeting, the caller, and the live state snapshot with its seq. */
export const getMeeting = httpHandler(async (req) => {
  const { meetingId } = parse(meetingParams, req.params, 'path');
  parseQuery(req, noQuery);
  await services.ready();
  const caller = await services.meetings.authorize(bearerToken(req), meetingId);
  const stored = await services.states.load(meetingId);
  return json(200, services.meetings.view(caller, stored));
});

app.http('getMeeting', {
  route: 'meetings/{meetingId}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: getMeeting,
});
