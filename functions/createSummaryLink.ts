import { app } from '@azure/functions';
import { meetingParams, parse } from '../lib/domain/validation';
import { bearerToken, expectNoBody, httpHandler, json, parseQuery } from '../lib/http/handler';
import { noQuery } from '../lib/http/queries';
import { getServices } from '../lib/services';
import { signSummaryLink } from '../lib/tokens';

const services = getServices();

/**
 * POST /api/meetings/{meetingId}/summary/link — a link that opens the summary page in a browser
 * tab (which cannot send a bearer header): `{url, expiresAt}`, usable for 5 minutes, for this
 * meeting's summary only. The participant token never goes in a URL (URLs are logged); the link's
 * token is refused everywhere else, so a leaked link opens one report for minutes, nothing more.
 */
export const createSummaryLink = httpHandler(async (req) => {
  const { meetingId } = parse(meetingParams, req.params, 'path');
  parseQuery(req, noQuery);
  await expectNoBody(req);
  await services.ready();
  const caller = await services.meetings.authorize(bearerToken(req), meetingId);
  const { token, expiresAt } = signSummaryLink(
    caller.claims,
    services.config.tokens.secret,
    services.clock(),
  );
  return json(200, {
    url: `/api/meetings/${meetingId}/summary?format=html&link=${token}`,
    expiresAt: new Date(expiresAt * 1000).toISOString(),
  });
});

app.http('createSummaryLink', {
  route: 'meetings/{meetingId}/summary/link',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: createSummaryLink,
});
