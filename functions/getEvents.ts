import { app } from '@azure/functions';
import {
  getDelivery,
  intParam,
  DEFAULT_LIMIT,
  MAX_LIMIT,
  MAX_WAIT_SECONDS,
  RetentionGapError,
} from '../lib/delivery';
import { bearerToken, httpHandler, json } from '../lib/http/handler';
import type { EventsPage } from '../lib/protocol';

const delivery = getDelivery();
const { services } = delivery;

/**
 * GET /api/meetings/{meetingId}/events?after={seq}&limit=&wait= — the envelopes after `after`,
 * gapless and in seq order, exactly as they were (or will be) pushed: `{items, continuation}`.
 * With `wait` (seconds, ≤ 30) it is a long-poll: when nothing is there yet it answers as soon as
 * something is, or empty after `wait`. 410 when the envelopes asked for have expired (retention).
 */
export const getEvents = httpHandler(async (req) => {
  const meetingId = req.params.meetingId ?? '';
  const token = bearerToken(req);
  services.meetings.authenticate(token, meetingId); // 401/403 before anything else
  const after = intParam('after', req.query.get('after'), 0, 0, Number.MAX_SAFE_INTEGER);
  const limit = intParam('limit', req.query.get('limit'), DEFAULT_LIMIT, 1, MAX_LIMIT);
  const wait = intParam('wait', req.query.get('wait'), 0, 0, MAX_WAIT_SECONDS);
  await services.ready();
  // A participant of this meeting, not removed; one request from their rate budget.
  await services.meetings.authorize(token, meetingId);
  try {
    const page = await delivery.read(meetingId, after, limit, wait * 1000);
    const body: EventsPage = { items: page.items, continuation: page.continuation };
    return json(200, body);
  } catch (err) {
    if (!(err instanceof RetentionGapError)) throw err;
    return {
      status: 410,
      headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store' },
      body: JSON.stringify({
        type: 'about:blank',
        title: 'Gone',
        status: 410,
        detail: `Envelopes before seq ${err.firstAvailableSeq} have expired (retention); read on from there and reload the meeting's state.`,
        firstAvailableSeq: err.firstAvailableSeq,
      }),
    };
  }
});

app.http('getEvents', {
  route: 'meetings/{meetingId}/events',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: getEvents,
});
