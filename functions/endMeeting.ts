import { app } from '@azure/functions';
import { meetingParams, parse } from '../lib/domain/validation';
import { bearerToken, expectNoBody, httpHandler, json, parseQuery } from '../lib/http/handler';
import { noQuery } from '../lib/http/queries';
import { getServices } from '../lib/services';

const services = getServices();

/** POST /api/meetings/{meetingId}/end — host: the meeting ends (idempotent); no more events are accepted. */
export const endMeeting = httpHandler(async (req) => {
  const { meetingId } = parse(meetingParams, req.params, 'path');
  parseQuery(req, noQuery);
  await expectNoBody(req);
  await services.ready();
  const caller = await services.meetings.authorize(bearerToken(req), meetingId);
  return json(200, await services.meetings.end(caller));
});

app.http('endMeeting', {
  route: 'meetings/{meetingId}/end',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: endMeeting,
});
