import { app } from '@azure/functions';
import { meetingParams, parse } from '../lib/domain/validation';
import { bearerToken, expectNoBody, httpHandler, json, parseQuery } from '../lib/http/handler';
import { noQuery } from '../lib/http/queries';
import { getServices } from '../lib/services';

const services = getServices();

/**
 * POST /api/meetings/{meetingId}/join-code — host: a new join code (200 `{joinCode}`); the old one
 * stops working. For a code that leaked; participants who joined stay.
 */
export const rotateJoinCode = httpHandler(async (req) => {
  const { meetingId } = parse(meetingParams, req.params, 'path');
  parseQuery(req, noQuery);
  await expectNoBody(req);
  await services.ready();
  const caller = await services.meetings.authorize(bearerToken(req), meetingId);
  return json(200, await services.meetings.rotateJoinCode(caller));
});

app.http('rotateJoinCode', {
  route: 'meetings/{meetingId}/join-code',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: rotateJoinCode,
});
