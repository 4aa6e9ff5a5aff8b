import { app, type HttpResponseInit } from '@azure/functions';
import {
  allowedOrigin,
  checkUpstreamEvent,
  connectionState,
  createUpstreamAuth,
  meetingOfConnect,
} from '../lib/delivery/upstream';
import { meetingParams, parse } from '../lib/domain/validation';
import { ProblemError } from '../lib/errors';
import { httpHandler, parseQuery, readJson } from '../lib/http/handler';
import { keyOnlyQuery } from '../lib/http/queries';
import { getServices } from '../lib/services';

const services = getServices();
const { delivery } = services;
const { config } = delivery;
// The access key's ce-signature, or (no key: local auth disabled) the hub's Entra token.
const upstreamAuth = createUpstreamAuth(config);

/**
 * OPTIONS|POST /api/webpubsub/events — Web PubSub's event handler (upstream) for the hub: the
 * abuse-protection handshake, then CloudEvents (authenticated by the access key's signature or,
 * without a key, by the hub's Microsoft Entra token): the
 * blocking `connect`, refused (401) for participants who were removed or never were, and
 * `connected`/`disconnected` feeding presence. `connect` answers with the meeting in the
 * connection's state, which the service echoes on the later events, so presence knows the meeting
 * without a cross-partition lookup. Configure the hub's event handler with this URL and the system
 * events connect, connected and disconnected; user events are refused.
 */
export const webPubSubEvents = httpHandler(async (req): Promise<HttpResponseInit> => {
  // The event handler URL may carry a function key (`code`); nothing else is expected.
  parseQuery(req, keyOnlyQuery);
  if (req.method === 'OPTIONS') {
    const origin = allowedOrigin(req.headers, config.webPubSubOrigins);
    if (!origin)
      throw new ProblemError(400, 'Bad Request', 'WebHook-Request-Origin is missing or not allowed.');
    return { status: 200, headers: { 'webhook-allowed-origin': origin } };
  }
  const check = await checkUpstreamEvent(req.headers, upstreamAuth, config.hub);
  if (!check.ok) {
    throw new ProblemError(check.status, check.status === 401 ? 'Unauthorized' : 'Bad Request', check.detail);
  }
  const { event } = check;
  await services.ready();
  if (event.kind === 'other') {
    if (event.type.startsWith('azure.webpubsub.user.')) {
      throw new ProblemError(400, 'Bad Request', 'This hub accepts no user events.');
    }
    return { status: 204 };
  }
  if (event.kind === 'connect') {
    // Any 4xx/5xx refuses the connection; Cosmos DB trouble fails closed.
    const asked = meetingOfConnect(await readJson(req, 64 * 1024));
    const refused = () =>
      new ProblemError(401, 'Unauthorized', 'This participant may not connect to the meeting.');
    if (!event.userId || !asked) throw refused();
    const { meetingId } = parse(meetingParams, { meetingId: asked }, 'query');
    if (!(await services.meetings.mayConnect(meetingId, event.userId))) throw refused();
    return { status: 204, headers: { 'ce-connectionState': connectionState(meetingId) } };
  }
  // The service does not retry connected/disconnected (it logs a failed answer). A Cosmos DB error
  // here still answers 5xx for that log; presence verification and the sweep repair the miss.
  // Connections without our state (opened before it existed) carry no meeting and are left to them.
  if (event.userId && event.meetingId) {
    if (event.kind === 'connected')
      await delivery.presence.connected(event.meetingId, event.userId, event.connectionId);
    else await delivery.presence.disconnected(event.meetingId, event.userId, event.connectionId);
  }
  return { status: 204 };
});

app.http('webPubSubEvents', {
  route: 'webpubsub/events',
  methods: ['OPTIONS', 'POST'],
  authLevel: 'anonymous',
  handler: webPubSubEvents,
});
