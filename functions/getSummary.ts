import { app } from '@azure/functions';
import { meetingParams, parse } from '../lib/domain/validation';
import { notFound } from '../lib/errors';
import { bearerToken, httpHandler, json, parseQuery } from '../lib/http/handler';
import { summaryQuery } from '../lib/http/queries';
import { getServices } from '../lib/services';
import { hopLatency } from '../lib/processing/latency';
import { buildSummary, renderSummaryHtml, renderSummarySvg } from '../lib/summary';

const services = getServices();

/**
 * GET /api/meetings/{meetingId}/summary — the end-of-meeting report (or the report so far):
 * JSON by default, `?format=html` for a page with charts, `?format=svg&chart=talkTime|timeline|polls`.
 */
export const getSummary = httpHandler(async (req) => {
  const { meetingId } = parse(meetingParams, req.params, 'path');
  const query = parseQuery(req, summaryQuery);
  await services.ready();
  // Full authorisation: removed participants are refused, and the request is rate limited.
  // A summary link (POST …/summary/link) authenticates by `?link=`; nothing else is accepted in the URL.
  const { meeting } =
    query.link !== undefined
      ? await services.meetings.authorize(query.link, meetingId, true, 'summary')
      : await services.meetings.authorize(bearerToken(req), meetingId);
  const format = query.format ?? 'json';
  const stored = await services.states.load(meetingId);
  if (!stored) throw notFound('Nothing has been processed for this meeting yet.');
  const summary = buildSummary(stored.state.model, services.clock(), {
    meetingId,
    title: meeting.title,
    latency: hopLatency(stored.state.hops, services.meter.meeting(meetingId)),
  });
  const headers = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
  if (format === 'html') {
    return {
      status: 200,
      headers: { ...headers, 'content-type': 'text/html; charset=utf-8' },
      body: renderSummaryHtml(summary),
    };
  }
  if (format === 'svg') {
    const svg = renderSummarySvg(summary)[query.chart ?? 'talkTime'];
    return {
      status: 200,
      headers: { ...headers, 'content-type': 'image/svg+xml; charset=utf-8' },
      body: svg,
    };
  }
  return json(200, { summary, final: summary.status === 'ended' });
});

app.http('getSummary', {
  route: 'meetings/{meetingId}/summary',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: getSummary,
});
