import { app } from '@azure/functions';
import { notFound, badRequest } from '../lib/errors';
import { bearerToken, httpHandler, json } from '../lib/http/handler';
import { getServices } from '../lib/services';
import { buildSummary, renderSummaryHtml, renderSummarySvg } from '../lib/summary';

const services = getServices();
const CHARTS = ['talkTime', 'timeline', 'polls'] as const;

/**
 * GET /api/meetings/{meetingId}/summary — the end-of-meeting report (or the report so far):
 * JSON by default, `?format=html` for a page with charts, `?format=svg&chart=talkTime|timeline|polls`.
 */
export const getSummary = httpHandler(async (req) => {
  const meetingId = req.params.meetingId ?? '';
  await services.ready();
  // Full authorisation: removed participants are refused, and the request is rate limited.
  const { meeting } = await services.meetings.authorize(bearerToken(req), meetingId);
  const format = req.query.get('format') ?? 'json';
  const chart = req.query.get('chart');
  if (!['json', 'html', 'svg'].includes(format)) throw badRequest('format must be json, html or svg.');
  if (format === 'svg' && !CHARTS.includes(chart as (typeof CHARTS)[number])) {
    throw badRequest(`chart must be one of ${CHARTS.join(', ')}.`);
  }
  const stored = await services.states.load(meetingId);
  if (!stored) throw notFound('Nothing has been processed for this meeting yet.');
  const summary = buildSummary(stored.state.model, Date.now(), { meetingId, title: meeting.title });
  const headers = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
  if (format === 'html') {
    return {
      status: 200,
      headers: { ...headers, 'content-type': 'text/html; charset=utf-8' },
      body: renderSummaryHtml(summary),
    };
  }
  if (format === 'svg') {
    const svg = renderSummarySvg(summary)[chart as (typeof CHARTS)[number]];
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
