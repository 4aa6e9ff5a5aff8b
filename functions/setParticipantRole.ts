import { app } from '@azure/functions';
import { parse, participantParams, roleBody } from '../lib/domain/validation';
import { bearerToken, httpHandler, json, readJson, parseQuery } from '../lib/http/handler';
import { noQuery } from '../lib/http/queries';
import { getServices } from '../lib/services';

const services = getServices();

/** PUT /api/meetings/{meetingId}/participants/{participantId}/role — host: promote to presenter or demote. */
export const setParticipantRole = httpHandler(async (req) => {
  const { meetingId, participantId } = parse(participantParams, req.params, 'path');
  parseQuery(req, noQuery);
  await services.ready();
  const caller = await services.meetings.authorize(bearerToken(req), meetingId);
  const { role } = parse(roleBody, await readJson(req, 1024), 'role change');
  return json(200, await services.meetings.setRole(caller, participantId, role));
});

app.http('setParticipantRole', {
  route: 'meetings/{meetingId}/participants/{participantId}/role',
  methods: ['PUT'],
  authLevel: 'anonymous',
  handler: setParticipantRole,
});
