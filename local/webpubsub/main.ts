/**
 * Runs the embedded Web PubSub service as a child process of the local stack.
 * Env: WEBPUBSUB_ACCESS_KEY (required), WEBPUBSUB_PORT (8080), WEBPUBSUB_HOST (127.0.0.1),
 * WEBPUBSUB_EVENT_HANDLER (`hub=url` pairs separated by `;`), WEBPUBSUB_EVENT_HANDLER_SYSTEM_EVENTS,
 * WEBPUBSUB_EVENT_HANDLER_USER_EVENTS.
 * Prints one JSON line when ready.
 */
import { startErrorText } from '../startError';
import { SYSTEM_EVENTS, type SystemEventName } from './eventHandler';
import { startEmbeddedWebPubSub, type EventHandlerSettings } from './server';

/**
 * `WEBPUBSUB_EVENT_HANDLER` = `hub=url;hub2=url2`; `WEBPUBSUB_EVENT_HANDLER_SYSTEM_EVENTS` =
 * `connect,connected,disconnected` (the system events sent to every handler; default connected and
 * disconnected, like a handler configured in the portal without `connect`);
 * `WEBPUBSUB_EVENT_HANDLER_USER_EVENTS` = `*` or `name,name` (the user events forwarded, like the
 * portal's user event pattern; default none).
 */
export function parseEventHandlers(
  spec: string | undefined,
  systemEvents?: string,
  userEvents?: string,
): EventHandlerSettings[] {
  if (spec === undefined || spec.trim() === '') return [];
  const events = parseSystemEvents(systemEvents);
  const user = parseUserEvents(userEvents);
  return spec
    .split(';')
    .map((pair) => pair.trim())
    .filter((pair) => pair !== '')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq <= 0 || eq === pair.length - 1)
        throw new Error(`WEBPUBSUB_EVENT_HANDLER: expected hub=url, got '${pair}'`);
      return {
        hub: pair.slice(0, eq).trim(),
        url: pair.slice(eq + 1).trim(),
        ...(events ? { systemEvents: events } : {}),
        ...(user ? { userEvents: user } : {}),
      };
    });
}

function parseUserEvents(spec: string | undefined): '*' | string[] | undefined {
  if (spec === undefined || spec.trim() === '') return undefined;
  const names = spec.split(',').map((n) => n.trim());
  if (names.includes('*')) return '*';
  for (const n of names)
    if (!/^[A-Za-z0-9_.-]+$/.test(n))
      throw new Error(`WEBPUBSUB_EVENT_HANDLER_USER_EVENTS: '${n}' is not an event name or *`);
  return names;
}

function parseSystemEvents(spec: string | undefined): SystemEventName[] | undefined {
  if (spec === undefined || spec.trim() === '') return undefined;
  return spec.split(',').map((name) => {
    const event = SYSTEM_EVENTS.find((e) => e === name.trim());
    if (!event)
      throw new Error(
        `WEBPUBSUB_EVENT_HANDLER_SYSTEM_EVENTS: '${name.trim()}' is not one of ${SYSTEM_EVENTS.join(', ')}`,
      );
    return event;
  });
}

async function main(): Promise<void> {
  const accessKey = process.env.WEBPUBSUB_ACCESS_KEY;
  if (accessKey === undefined || accessKey === '') {
    console.error('WEBPUBSUB_ACCESS_KEY is required');
    process.exit(2);
  }
  const port = Number(process.env.WEBPUBSUB_PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`WEBPUBSUB_PORT is not a valid port: ${process.env.WEBPUBSUB_PORT}`);
    process.exit(2);
  }
  const service = await startEmbeddedWebPubSub({
    host: process.env.WEBPUBSUB_HOST || undefined,
    port,
    accessKey,
    eventHandlers: parseEventHandlers(
      process.env.WEBPUBSUB_EVENT_HANDLER,
      process.env.WEBPUBSUB_EVENT_HANDLER_SYSTEM_EVENTS,
      process.env.WEBPUBSUB_EVENT_HANDLER_USER_EVENTS,
    ),
  });
  process.stdout.write(
    JSON.stringify({ service: 'webpubsub', ready: true, endpoint: service.endpoint, port: service.port }) +
      '\n',
  );
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    service.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('[webpubsub] close failed:', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`[webpubsub] failed to start: ${startErrorText(err, 'WEBPUBSUB_PORT')}`);
    process.exit(1);
  });
}
