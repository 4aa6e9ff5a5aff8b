import { app } from '@azure/functions';
import { eventsBody, parse } from '../lib/domain/validation';
import { bearerToken, httpHandler, json, readJson } from '../lib/http/handler';
import { getServices } from '../lib/services';

const services = getServices();
const MAX_BODY_BYTES = 1024 * 1024;

/** POST /api/meetings/{meetingId}/events — one event or {events: [...]} (≤ 100), stored atomically. */
export const postEvents = httpHandler(async (req) => {
  const claims = services.meetings.authenticate(bearerToken(req), req.params.meetingId ?? '');
  const body = parse(eventsBody, await readJson(req, MAX_BODY_BYTES), 'event payload');
  const events = 'events' in body ? body.events : [body];
  await services.ready();
  const accepted = await services.meetings.postEvents(claims, events);
  return json(202, { accepted });
});

app.http('postEvents', {
  route: 'meetings/{meetingId}/events',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: postEvents,
});
