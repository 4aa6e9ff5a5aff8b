import { app } from '@azure/functions';
import { RetentionGapError } from '../lib/delivery';
import { meetingParams, parse } from '../lib/domain/validation';
import { gone } from '../lib/errors';
import { bearerToken, httpHandler, json, parseQuery } from '../lib/http/handler';
import { DEFAULT_EVENTS_PAGE, eventsQuery } from '../lib/http/queries';
import type { EventsPageBody } from '../lib/http/queries';
import { getServices } from '../lib/services';

const services = getServices();
const { delivery } = services;

/**
 * GET /api/meetings/{meetingId}/events?after={seq}|cursor=&limit=&wait= — the envelopes after
 * `after` (or on from a previous page's `next`, passed back as `cursor`), gapless and in seq order,
 * exactly as they were (or will be) pushed: `{items, next}`. With `wait` (seconds, ≤ 30) it is a
 * long-poll: when nothing is there yet it answers as soon as something is, or empty after `wait`.
 * 410 when the envelopes asked for have expired (retention).
 */
export const getEvents = httpHandler(async (req) => {
  const { meetingId } = parse(meetingParams, req.params, 'path');
  const token = bearerToken(req);
  services.meetings.authenticate(token, meetingId); // 401/403 before anything else
  const query = parseQuery(req, eventsQuery);
  const after = query.cursor ?? query.after ?? 0;
  const limit = query.limit ?? DEFAULT_EVENTS_PAGE;
  const wait = query.wait ?? 0;
  await services.ready();
  // A participant of this meeting, not removed; one request from their rate budget.
  await services.meetings.authorize(token, meetingId);
  try {
    const page = await delivery.read(meetingId, after, limit, wait * 1000);
    // `continuation` is the same cursor under its former name (clients written before `next`).
    const body: EventsPageBody = {
      items: page.items,
      next: page.continuation,
      continuation: page.continuation,
    };
    return json(200, body);
  } catch (err) {
    if (!(err instanceof RetentionGapError)) throw err;
    throw gone(
      `Envelopes before seq ${err.firstAvailableSeq} have expired (retention); read on from there and reload the meeting's state.`,
      { firstAvailableSeq: err.firstAvailableSeq },
      'expired',
    );
  }
});

app.http('getEvents', {
  route: 'meetings/{meetingId}/events',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: getEvents,
});
