import { app } from '@azure/functions';
import { meetingParams, parse } from '../lib/domain/validation';
import { bearerToken, expectNoBody, httpHandler, json, parseQuery } from '../lib/http/handler';
import { noQuery } from '../lib/http/queries';
import { getServices } from '../lib/services';

const services = getServices();

/**
 * POST /api/meetings/{meetingId}/events/stream-ticket — a ticket that opens one Server-Sent
 * Events stream within seconds (`GET …/events/stream?ticket=`), for EventSource, which cannot
 * send an Authorization header. Participant tokens never go in URLs (they would be stored in
 * request telemetry and proxy logs); a ticket there has expired before anyone reads it.
 */
export const createStreamTicket = httpHandler(async (req) => {
  const { meetingId } = parse(meetingParams, req.params, 'path');
  parseQuery(req, noQuery);
  await expectNoBody(req);
  await services.ready();
  const caller = await services.meetings.authorize(bearerToken(req), meetingId);
  return json(200, services.meetings.streamTicket(caller));
});

app.http('createStreamTicket', {
  route: 'meetings/{meetingId}/events/stream-ticket',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: createStreamTicket,
});
