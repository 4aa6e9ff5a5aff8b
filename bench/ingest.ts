/**
 * Ingest: events accepted per second over HTTP under autocannon load (closed loop, N connections),
 * one event per POST with a client id, round-robin over the meetings and their participants like
 * the e2e load (so no participant nears its rate limit). The change-feed processor runs meanwhile, as in production.
 *
 * Baselines, same client, same connections, same run: a bare node:http server answering 202 (the
 * machine's HTTP ceiling), the runner answering an unknown route by itself (its HTTP host only),
 * the events route refused for a missing token (host + stream proxy + Functions library +
 * handler up to auth, no Cosmos DB), and the same services (auth, caches, validation, create)
 * behind a bare node:http server with no runner or Functions library. The gaps between them show
 * where an accepted event's cost goes.
 */
import { fork } from 'node:child_process';
import * as path from 'node:path';
import autocannon from 'autocannon';
import { createFleet } from './lib/fleet';
import { JsonClient, sleep } from './lib/http';
import { CpuMeter } from './lib/machine';
import { startBenchStack } from './lib/stack';

export interface IngestOptions {
  seconds: number;
  connections: number;
  meetings: number;
  participants: number;
  /** Extra environment for the services (A/B comparisons). */
  env?: Record<string, string>;
  /** Change-feed / timer functions in their own runner process (local/stack.ts). */
  separateProcessor?: boolean;
  log: (line: string) => void;
}

export interface IngestRow {
  name: string;
  requestsPerSec: number;
  /** Answers with the expected status per second. */
  okPerSec: number;
  expectedStatus: number;
  statuses: Record<string, number>;
  latencyP50Ms: number;
  latencyP99Ms: number;
  errors: number;
  cores: Record<string, number>;
}

export interface IngestResult {
  seconds: number;
  connections: number;
  acceptedPerSec: number;
  rows: IngestRow[];
}

async function cannon(
  name: string,
  opts: {
    url: string;
    seconds: number;
    connections: number;
    expected: number;
    requests: autocannon.Request[];
  },
  pids: () => Record<string, number | undefined>,
): Promise<IngestRow> {
  const meter = new CpuMeter(pids);
  meter.begin();
  const r = await autocannon({
    url: opts.url,
    connections: opts.connections,
    duration: opts.seconds,
    timeout: 20,
    requests: opts.requests,
  });
  const cores = meter.end();
  const statuses = Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([k, v]) => [k, v.count]));
  const ok = statuses[String(opts.expected)] ?? 0;
  return {
    name,
    requestsPerSec: Math.round(r.requests.total / r.duration),
    okPerSec: Math.round(ok / r.duration),
    expectedStatus: opts.expected,
    statuses,
    latencyP50Ms: r.latency.p50,
    latencyP99Ms: r.latency.p99,
    errors: r.errors + r.timeouts,
    cores,
  };
}

export async function runIngest(opts: IngestOptions): Promise<IngestResult> {
  const rows: IngestRow[] = [];
  // Baseline 1: the machine's HTTP ceiling.
  const bare = fork(path.join(__dirname, 'lib', 'bare-http.js'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const { port } = await new Promise<{ port: number }>((resolve) => bare.once('message', resolve));
    opts.log(`ingest: bare node:http baseline, ${opts.connections} connections, ${opts.seconds} s`);
    rows.push(
      await cannon(
        'bare node:http server (202)',
        {
          url: `http://127.0.0.1:${port}`,
          seconds: opts.seconds,
          connections: opts.connections,
          expected: 202,
          requests: [
            {
              method: 'POST',
              path: '/events',
              headers: { 'content-type': 'application/json' },
              body: '{"id":"x","type":"reaction","data":{"emoji":"👍"}}',
            },
          ],
        },
        () => ({ server: bare.pid, driver: process.pid }),
      ),
    );
  } finally {
    bare.kill('SIGTERM');
  }

  const stack = await startBenchStack({ env: opts.env, separateProcessor: opts.separateProcessor });
  const api = new JsonClient(stack.apiUrl, 32);
  try {
    const fleet = await createFleet(api, opts.meetings, opts.participants);
    const pids = () => ({ ...stack.pids(), driver: process.pid });
    const base = new URL(stack.apiUrl);
    const origin = `${base.protocol}//${base.host}`;
    await sleep(500);
    opts.log('ingest: runner, unknown route (404)');
    rows.push(
      await cannon(
        'runner: unknown route (404, HTTP host only)',
        {
          url: origin,
          seconds: opts.seconds,
          connections: opts.connections,
          expected: 404,
          requests: [{ method: 'GET', path: '/api/no-such-route' }],
        },
        pids,
      ),
    );
    opts.log('ingest: runner, events without a token (401)');
    const someMeeting = fleet.meetings[0]!;
    rows.push(
      await cannon(
        'runner: POST events, no token (401, no Cosmos DB)',
        {
          url: origin,
          seconds: opts.seconds,
          connections: opts.connections,
          expected: 401,
          requests: [
            {
              method: 'POST',
              path: `/api/meetings/${someMeeting}/events`,
              headers: { 'content-type': 'application/json' },
              body: '{"type":"reaction","data":{"emoji":"👍"}}',
            },
          ],
        },
        pids,
      ),
    );
    let n = 0;
    const tag = Date.now().toString(36);
    const emoji = ['👍', '❤️', '😂', '👏', '🎉', '🔥'];
    const acceptedRequests = (): autocannon.Request[] => [
      {
        method: 'POST',
        setupRequest: (req) => {
          const k = n++;
          // Round-robin over meetings, then participants, as the e2e load generator posts.
          const m = k % fleet.participants.length;
          const p = fleet.participants[m]![Math.floor(k / fleet.participants.length) % opts.participants]!;
          const body =
            k % 2 === 0
              ? {
                  id: `ing-${tag}-${k}`,
                  type: 'chat.message',
                  data: { text: `message ${k}: the quick brown fox` },
                }
              : { id: `ing-${tag}-${k}`, type: 'reaction', data: { emoji: emoji[k % emoji.length] } };
          return {
            ...req,
            path: `/api/meetings/${p.meetingId}/events`,
            headers: { 'content-type': 'application/json', authorization: `Bearer ${p.token}` },
            body: JSON.stringify(body),
          };
        },
      },
    ];

    // Baseline 3: the same services behind a bare node:http server (no runner, no Functions library).
    opts.log('ingest: bare node:http + the same services, events accepted (202)');
    const app = fork(path.join(__dirname, 'lib', 'bare-app.js'), [], {
      env: { ...process.env, ...stack.env },
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    try {
      const appPort = await new Promise<number>((resolve, reject) => {
        app.once('exit', (code) => reject(new Error(`bare app exited with ${code}`)));
        app.stdout!.once('data', (chunk: Buffer) =>
          resolve((JSON.parse(String(chunk)) as { port: number }).port),
        );
      });
      rows.push(
        await cannon(
          'bare node:http + same services: POST events (202)',
          {
            url: `http://127.0.0.1:${appPort}`,
            seconds: opts.seconds,
            connections: opts.connections,
            expected: 202,
            requests: acceptedRequests(),
          },
          () => ({ ...stack.pids(), app: app.pid, driver: process.pid }),
        ),
      );
    } finally {
      app.kill('SIGTERM');
    }

    opts.log('ingest: runner, events accepted (202)');
    rows.push(
      await cannon(
        'meetstream: POST events (202 accepted)',
        {
          url: origin,
          seconds: opts.seconds,
          connections: opts.connections,
          expected: 202,
          requests: acceptedRequests(),
        },
        pids,
      ),
    );
  } catch (err) {
    console.error(stack.logs.slice(-30).join('\n'));
    throw err;
  } finally {
    api.close();
    await stack.cleanup();
  }
  return {
    seconds: opts.seconds,
    connections: opts.connections,
    acceptedPerSec: rows[rows.length - 1]!.okPerSec,
    rows,
  };
}

if (require.main === module) {
  runIngest({
    seconds: Number(process.argv[2] ?? 10),
    connections: 32,
    meetings: 50,
    participants: 20,
    log: (l) => console.error(l),
  }).then(
    (r) => {
      console.log(JSON.stringify(r, null, 2));
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
