import { app } from '@azure/functions';
import { meetingParams, parse } from '../lib/domain/validation';
import { bearerToken, expectNoBody, httpHandler, json, parseQuery } from '../lib/http/handler';
import { noQuery } from '../lib/http/queries';
import { getServices } from '../lib/services';

const services = getServices();

/**
 * POST /api/meetings/{meetingId}/negotiate — a Web PubSub client URL whose token can join only
 * this meeting's group (no send rights) and expires with the participant token.
 */
export const negotiate = httpHandler(async (req) => {
  const { meetingId } = parse(meetingParams, req.params, 'path');
  parseQuery(req, noQuery);
  await expectNoBody(req);
  await services.ready();
  const caller = await services.meetings.authorize(bearerToken(req), meetingId);
  return json(200, await services.meetings.negotiate(caller));
});

app.http('negotiate', {
  route: 'meetings/{meetingId}/negotiate',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: negotiate,
});
