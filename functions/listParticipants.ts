import { app } from '@azure/functions';
import { meetingParams, parse, participantsQuery } from '../lib/domain/validation';
import { bearerToken, httpHandler, json, queryObject } from '../lib/http/handler';
import { getServices } from '../lib/services';

const services = getServices();

/** GET /api/meetings/{meetingId}/participants?limit=&continuation= — everyone who ever joined, paged. */
export const listParticipants = httpHandler(async (req) => {
  const { meetingId } = parse(meetingParams, req.params, 'path');
  const query = parse(participantsQuery, queryObject(req), 'query');
  await services.ready();
  const caller = await services.meetings.authorize(bearerToken(req), meetingId);
  return json(200, await services.meetings.listParticipants(caller, query));
});

app.http('listParticipants', {
  route: 'meetings/{meetingId}/participants',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: listParticipants,
});
