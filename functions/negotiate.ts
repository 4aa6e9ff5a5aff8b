import { app } from '@azure/functions';
import { bearerToken, httpHandler, json } from '../lib/http/handler';
import { getServices } from '../lib/services';

const services = getServices();

/**
 * POST /api/meetings/{meetingId}/negotiate — a Web PubSub client URL whose token can join only
 * this meeting's group (no send rights) and expires with the participant token.
 */
export const negotiate = httpHandler(async (req) => {
  const claims = services.meetings.authenticate(bearerToken(req), req.params.meetingId ?? '');
  return json(200, await services.meetings.negotiate(claims));
});

app.http('negotiate', {
  route: 'meetings/{meetingId}/negotiate',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: negotiate,
});
