import { app } from '@azure/functions';
import { z } from 'zod';
import { createEventStream } from '../lib/delivery/eventStream';
import { meetingParams, parse } from '../lib/domain/validation';
import { badRequest } from '../lib/errors';
import { bearerToken, httpHandler, parseQuery } from '../lib/http/handler';
import { DEFAULT_EVENTS_PAGE, streamQuery } from '../lib/http/queries';
import { getServices } from '../lib/services';

const services = getServices();
const { delivery } = services;
const { config } = delivery;
/** Last-Event-ID is a seq like `after`: the same rule, named after the header in its error. */
const lastEventIdHeader = z.object({ 'Last-Event-ID': streamQuery.shape.after });

/**
 * GET /api/meetings/{meetingId}/events/stream — Server-Sent Events on the same sequence: one
 * message per envelope with `id: <seq>`, resumed after `Last-Event-ID` (or `?after=`). Browsers'
 * EventSource cannot send headers, so it authenticates with `?ticket=` (a 30-second stream
 * ticket from POST …/events/stream-ticket); a participant token in the URL is refused with 400,
 * because request URLs are stored by Application Insights and proxies. The response
 * ends after SSE_MAX_SECONDS (or when the token expires); clients reconnect with their last id.
 * Needs HTTP streaming (functions/app.ts enables it); without it the body would be buffered.
 */
export const streamEvents = httpHandler(async (req) => {
  const { meetingId } = parse(meetingParams, req.params, 'path');
  if (req.query.has('access_token'))
    throw badRequest(
      'Participant tokens are not accepted in URLs (they would be logged): send Authorization: Bearer, or use ?ticket= from POST …/events/stream-ticket.',
      [{ path: 'access_token', message: 'not accepted in the URL' }],
    );
  const bearer = bearerToken(req);
  const query = parseQuery(req, streamQuery);
  const ticket = query.ticket;
  const purpose = bearer ? 'participant' : 'stream';
  const token = bearer ?? ticket;
  services.meetings.authenticate(token, meetingId, purpose); // 401/403 before anything else
  const lastEventId = req.headers.get('last-event-id');
  const after = lastEventId
    ? (parse(lastEventIdHeader, { 'Last-Event-ID': lastEventId }, 'header')['Last-Event-ID'] ?? 0)
    : (query.after ?? 0);
  await services.ready();
  // A participant of this meeting, not removed; one request from their rate budget.
  const { claims } = await services.meetings.authorize(token, meetingId, true, purpose);
  const now = services.clock();
  const body = createEventStream({
    after,
    endAt: Math.min(now + config.sseMaxSeconds * 1000, claims.expiresAt * 1000),
    heartbeatMs: config.sseHeartbeatSeconds * 1000,
    read: (from) => delivery.read(meetingId, from, DEFAULT_EVENTS_PAGE),
    wait: (from, timeoutMs) => delivery.watcher.wait(meetingId, from, timeoutMs),
    log: (m) => console.warn(`[streamEvents] ${m}`),
    // A removed participant's stream ends with their removal (new requests already get 401).
    endsAfter: (e) => {
      if (e.kind !== 'event' || e.type !== 'participant.left') return false;
      const left = e.data as { participantId?: unknown; reason?: unknown };
      return left.participantId === claims.participantId && left.reason === 'removed';
    },
  });
  return {
    status: 200,
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // Proxies (nginx and friends) must pass the stream through as it is written.
      'x-accel-buffering': 'no',
    },
    body,
  };
});

app.http('streamEvents', {
  route: 'meetings/{meetingId}/events/stream',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: streamEvents,
});
