import { app } from '@azure/functions';
import { meetingParams, parse } from '../lib/domain/validation';
import { bearerToken, expectNoBody, httpHandler, json, parseQuery } from '../lib/http/handler';
import { noQuery } from '../lib/http/queries';
import { getServices } from '../lib/services';

const services = getServices();

/** POST /api/meetings/{meetingId}/start — host: a scheduled meeting goes live now (idempotent). */
export const startMeeting = httpHandler(async (req) => {
  const { meetingId } = parse(meetingParams, req.params, 'path');
  parseQuery(req, noQuery);
  await expectNoBody(req);
  await services.ready();
  const caller = await services.meetings.authorize(bearerToken(req), meetingId);
  return json(200, await services.meetings.start(caller));
});

app.http('startMeeting', {
  route: 'meetings/{meetingId}/start',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: startMeeting,
});
