/**
 * The events route without the Functions host or library: a bare node:http server calling the
 * same services (token check, cached participant, rate limit, validation, create) as
 * functions/postEvents.ts. Started by bench/ingest.ts with the runner's environment, so the gap
 * between it and the runner is what the runner + @azure/functions cost per accepted post.
 * Prints `{"port":N}` once listening. Not a product path: 202 / 4xx problem bodies only.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseEvents } from '../../lib/domain/validation';
import { toProblem } from '../../lib/errors';
import { getServices } from '../../lib/services';
import { applySettings, readLocalSettings } from '../../local/runner/settings';
import { repoRoot } from './stack';

applySettings(readLocalSettings(repoRoot).values);

const services = getServices();
const ROUTE = /^\/api\/meetings\/([^/]+)\/events$/;

async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const match = req.method === 'POST' ? ROUTE.exec(req.url ?? '') : null;
  if (!match) {
    res.writeHead(404).end();
    return;
  }
  try {
    await services.ready();
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    const caller = await services.meetings.authorize(token, decodeURIComponent(match[1]!), false);
    services.meetings.limit(caller.claims, 'events', 1);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    const events = parseEvents(body);
    services.meetings.limit(caller.claims, 'events', events.length - 1);
    const isBatch = typeof body === 'object' && body !== null && 'events' in body;
    const { accepted } = await services.meetings.postEvents(caller, events, isBatch);
    res.writeHead(202, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ accepted }));
  } catch (err) {
    const problem = toProblem(err, () => undefined);
    res.writeHead(problem.status, { 'content-type': 'application/problem+json' });
    res.end(problem.body);
  }
}

const server = http.createServer((req, res) => {
  handle(req, res).catch(() => res.destroy());
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: (server.address() as AddressInfo).port }));
});
process.on('SIGTERM', () => process.exit(0));
