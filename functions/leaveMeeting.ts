import { app } from '@azure/functions';
import { meetingParams, parse } from '../lib/domain/validation';
import { bearerToken, expectNoBody, httpHandler, json, parseQuery } from '../lib/http/handler';
import { noQuery } from '../lib/http/queries';
import { getServices } from '../lib/services';

const services = getServices();

/** POST /api/meetings/{meetingId}/leave — the caller leaves (idempotent); rejoin with POST …/join and the token. */
export const leaveMeeting = httpHandler(async (req) => {
  const { meetingId } = parse(meetingParams, req.params, 'path');
  parseQuery(req, noQuery);
  await expectNoBody(req);
  await services.ready();
  const caller = await services.meetings.authorize(bearerToken(req), meetingId);
  return json(200, await services.meetings.leave(caller));
});

app.http('leaveMeeting', {
  route: 'meetings/{meetingId}/leave',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: leaveMeeting,
});
