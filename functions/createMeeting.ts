import { app } from '@azure/functions';
import { createMeetingBody, parse } from '../lib/domain/validation';
import { httpHandler, json, parseQuery, readJson } from '../lib/http/handler';
import { keyOnlyQuery } from '../lib/http/queries';
import { getServices } from '../lib/services';

const services = getServices();

/** POST /api/meetings — organisers (function key on Azure) create a meeting and get its host token. */
export const createMeeting = httpHandler(async (req) => {
  parseQuery(req, keyOnlyQuery);
  const body = parse(createMeetingBody, await readJson(req, 16 * 1024), 'meeting');
  await services.ready();
  const created = await services.meetings.create(body);
  return json(
    201,
    {
      meeting: created.meeting,
      joinCode: created.joinCode,
      host: created.host,
      hostToken: created.token,
      expiresAt: created.expiresAt,
    },
    { location: `/api/meetings/${created.meeting.id}` },
  );
});

app.http('createMeeting', {
  route: 'meetings',
  methods: ['POST'],
  authLevel: 'function',
  handler: createMeeting,
});
