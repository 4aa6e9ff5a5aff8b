import { app } from '@azure/functions';
import { meetingParams, parse, parseEvents } from '../lib/domain/validation';
import { bearerToken, httpHandler, json, readJson, parseQuery } from '../lib/http/handler';
import { noQuery } from '../lib/http/queries';
import { getServices } from '../lib/services';

const services = getServices();
/** A full batch of the largest events fits; the stored batch stays under Cosmos DB's 2 MB transaction limit. */
export const MAX_EVENTS_BODY_BYTES = 1024 * 1024;

/** POST /api/meetings/{meetingId}/events — one event or {events: [...]} (≤ 100), stored atomically. */
export const postEvents = httpHandler(async (req) => {
  const { meetingId } = parse(meetingParams, req.params, 'path');
  parseQuery(req, noQuery);
  await services.ready();
  const caller = await services.meetings.authorize(bearerToken(req), meetingId, false);
  // One token before reading the body (so garbage costs too), the rest once the count is known.
  services.meetings.limit(caller.claims, 'events', 1);
  const body = await readJson(req, MAX_EVENTS_BODY_BYTES);
  const events = parseEvents(body);
  services.meetings.limit(caller.claims, 'events', events.length - 1);
  const isBatch = typeof body === 'object' && body !== null && 'events' in body;
  const { accepted, replayed } = await services.meetings.postEvents(caller, events, isBatch);
  return json(202, { accepted }, replayed ? { 'idempotent-replayed': 'true' } : {});
});

app.http('postEvents', {
  route: 'meetings/{meetingId}/events',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: postEvents,
});
