import { app } from '@azure/functions';
import { meetingParams, parse } from '../lib/domain/validation';
import { bearerToken, httpHandler, json, parseQuery } from '../lib/http/handler';
import { participantsQuery, type Page } from '../lib/http/queries';
import { getServices } from '../lib/services';

const services = getServices();

/** GET /api/meetings/{meetingId}/participants?limit=&cursor= — everyone who ever joined, paged: `{items, next}`. */
export const listParticipants = httpHandler(async (req) => {
  const { meetingId } = parse(meetingParams, req.params, 'path');
  const { limit, cursor, continuation } = parseQuery(req, participantsQuery);
  await services.ready();
  const caller = await services.meetings.authorize(bearerToken(req), meetingId);
  const page = await services.meetings.listParticipants(caller, {
    limit,
    continuation: cursor ?? continuation,
  });
  const body: Page<(typeof page.items)[number]> = { ...page, next: page.continuation };
  return json(200, body);
});

app.http('listParticipants', {
  route: 'meetings/{meetingId}/participants',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: listParticipants,
});
