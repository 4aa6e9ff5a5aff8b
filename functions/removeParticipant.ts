import { app } from '@azure/functions';
import { parse, participantParams } from '../lib/domain/validation';
import { bearerToken, expectNoBody, httpHandler, noContent, parseQuery } from '../lib/http/handler';
import { noQuery } from '../lib/http/queries';
import { getServices } from '../lib/services';

const services = getServices();

/**
 * DELETE /api/meetings/{meetingId}/participants/{participantId} — host: removes the participant
 * (tokens revoked, Web PubSub connections closed, participant.left {reason: 'removed'}). Idempotent.
 */
export const removeParticipant = httpHandler(async (req) => {
  const { meetingId, participantId } = parse(participantParams, req.params, 'path');
  parseQuery(req, noQuery);
  await expectNoBody(req);
  await services.ready();
  const caller = await services.meetings.authorize(bearerToken(req), meetingId);
  await services.meetings.remove(caller, participantId);
  return noContent();
});

app.http('removeParticipant', {
  route: 'meetings/{meetingId}/participants/{participantId}',
  methods: ['DELETE'],
  authLevel: 'anonymous',
  handler: removeParticipant,
});
