import { app } from '@azure/functions';
import { joinBody, parse } from '../lib/domain/validation';
import { httpHandler, json, readJson } from '../lib/http/handler';
import { getServices } from '../lib/services';

const services = getServices();

/** POST /api/meetings/{meetingId}/join — anyone with the join code becomes an attendee. */
export const joinMeeting = httpHandler(async (req) => {
  const body = parse(joinBody, await readJson(req, 4 * 1024), 'join request');
  await services.ready();
  const joined = await services.meetings.join(req.params.meetingId ?? '', body);
  return json(201, joined);
});

app.http('joinMeeting', {
  route: 'meetings/{meetingId}/join',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: joinMeeting,
});
