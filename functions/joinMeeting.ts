import { app } from '@azure/functions';
import { joinBody, meetingParams, parse } from '../lib/domain/validation';
import {
  bearerToken,
  clientAddress,
  expectNoBody,
  httpHandler,
  json,
  readJson,
  parseQuery,
} from '../lib/http/handler';
import { noQuery } from '../lib/http/queries';
import { getServices } from '../lib/services';

const services = getServices();

/**
 * POST /api/meetings/{meetingId}/join — with `{displayName, joinCode}` anyone with the code joins
 * as an attendee (201). Without a body but with the bearer token of a participant who left, that
 * participant comes back under the same identity and role (200).
 */
export const joinMeeting = httpHandler(async (req) => {
  const { meetingId } = parse(meetingParams, req.params, 'path');
  parseQuery(req, noQuery);
  const token = bearerToken(req);
  const hasBody = Number(req.headers.get('content-length') ?? 0) > 0 || req.headers.has('transfer-encoding');
  await services.ready();
  if (token && !hasBody) {
    await expectNoBody(req);
    const caller = await services.meetings.authorize(token, meetingId);
    return json(200, await services.meetings.rejoin(caller));
  }
  const body = parse(joinBody, await readJson(req, 4 * 1024), 'join request');
  return json(201, await services.meetings.join(meetingId, body, clientAddress(req)));
});

app.http('joinMeeting', {
  route: 'meetings/{meetingId}/join',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: joinMeeting,
});
