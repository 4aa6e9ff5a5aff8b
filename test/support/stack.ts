/**
 * Starts the real local stack (embedded Cosmos DB, embedded Web PubSub, functions runner; each a
 * child process on an ephemeral loopback port, data in a temp folder) for end-to-end tests, plus
 * small helpers that talk to it the way users do: fetch for HTTP, @azure/web-pubsub-client for
 * participants.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CosmosClient } from '@azure/cosmos';
import { WebPubSubClient } from '@azure/web-pubsub-client';
import { startStack, type Stack } from '../../local/stack';
import type { Envelope, PageDocument } from '../../lib/protocol';

export const repoRoot = path.resolve(__dirname, '..', '..', '..');

export interface TestStack extends Stack {
  dataDir: string;
  logs: string[];
  cleanup(): Promise<void>;
}

export async function startTestStack(settings: Record<string, string> = {}): Promise<TestStack> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meetstream-test-'));
  const logs: string[] = [];
  const stack = await startStack({
    appDir: repoRoot,
    dataDir,
    settings: {
      CosmosDBConnection: 'embedded',
      WebPubSubConnectionString: 'embedded',
      CHANGE_FEED_POLL_DELAY_MS: '5',
      ...settings,
    },
    ports: { http: 0, cosmos: 0, webPubSub: 0 },
    onLine: (service, line) => {
      logs.push(`[${service}] ${line}`);
      if (logs.length > 500) logs.shift();
      if (process.env.STACK_LOGS) console.log(`[${service}] ${line}`);
    },
  });
  return Object.assign(stack, {
    dataDir,
    logs,
    async cleanup() {
      await stack.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

export async function api<T = Record<string, unknown>>(
  stack: { apiUrl: string },
  method: string,
  route: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const res = await fetch(`${stack.apiUrl}${route}`, {
    method,
    headers,
    body:
      opts.body === undefined
        ? undefined
        : typeof opts.body === 'string'
          ? opts.body
          : JSON.stringify(opts.body),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, body: body as T };
}

export interface CreatedMeeting {
  meetingId: string;
  joinCode: string;
  hostToken: string;
  hostId: string;
}

export async function createMeeting(stack: { apiUrl: string }, title = 'Stand-up'): Promise<CreatedMeeting> {
  const res = await api<{
    meeting: { id: string };
    joinCode: string;
    hostToken: string;
    host: { id: string };
  }>(stack, 'POST', '/meetings', { body: { title } });
  if (res.status !== 201) throw new Error(`create meeting: ${res.status} ${JSON.stringify(res.body)}`);
  return {
    meetingId: res.body.meeting.id,
    joinCode: res.body.joinCode,
    hostToken: res.body.hostToken,
    hostId: res.body.host.id,
  };
}

export async function join(
  stack: { apiUrl: string },
  meeting: CreatedMeeting,
  displayName: string,
): Promise<{ token: string; participantId: string }> {
  const res = await api<{ token: string; participant: { id: string } }>(
    stack,
    'POST',
    `/meetings/${meeting.meetingId}/join`,
    {
      body: { displayName, joinCode: meeting.joinCode },
    },
  );
  if (res.status !== 201) throw new Error(`join: ${res.status} ${JSON.stringify(res.body)}`);
  return { token: res.body.token, participantId: res.body.participant.id };
}

/**
 * No message retries (a refused joinGroup should fail at once), and short keep-alive timers: the
 * client's timers keep running for up to a third of keepAliveTimeoutInMs after stop(), which
 * would otherwise hold jest open for 40 s.
 */
export const testClientOptions = {
  messageRetryOptions: { maxRetries: 0 },
  keepAliveIntervalInMs: 1000,
  keepAliveTimeoutInMs: 6000,
};

/** A participant connected with the official Web PubSub client, recording every envelope received. */
export interface Listener {
  client: WebPubSubClient;
  group: string;
  envelopes: Envelope[];
  waitFor(predicate: (envelopes: Envelope[]) => boolean, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function listen(stack: { apiUrl: string }, meetingId: string, token: string): Promise<Listener> {
  const neg = await api<{ url: string; group: string }>(stack, 'POST', `/meetings/${meetingId}/negotiate`, {
    token,
  });
  if (neg.status !== 200) throw new Error(`negotiate: ${neg.status} ${JSON.stringify(neg.body)}`);
  const client = new WebPubSubClient(neg.body.url, testClientOptions);
  const envelopes: Envelope[] = [];
  // Pushes are REST group sends, which reach clients as group messages.
  client.on('group-message', (e) => {
    const data = e.message.data as unknown;
    if (Array.isArray(data)) envelopes.push(...(data as Envelope[]));
  });
  await client.start();
  return {
    client,
    group: neg.body.group,
    envelopes,
    waitFor: (predicate, timeoutMs = 15_000) => waitUntil(() => predicate(envelopes), timeoutMs),
    stop: async () => {
      client.stop();
      await new Promise((r) => setTimeout(r, 10));
    },
  };
}

export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
  stepMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The meeting's stored pages, read straight from the embedded Cosmos DB (not through the API). */
export async function storedPages(stack: TestStack, meetingId: string): Promise<PageDocument[]> {
  const client = new CosmosClient(stack.env.CosmosDBConnection!);
  try {
    const { resources } = await client
      .database('meetstream')
      .container('meetings')
      .items.query<PageDocument>(
        { query: "SELECT * FROM c WHERE c.type = 'page' ORDER BY c.firstSeq", parameters: [] },
        { partitionKey: meetingId },
      )
      .fetchAll();
    return resources;
  } finally {
    client.dispose();
  }
}

/** The meeting's log: every envelope of its stored pages, in seq order. */
export const storedLog = async (stack: TestStack, meetingId: string): Promise<Envelope[]> =>
  (await storedPages(stack, meetingId)).flatMap((p) => p.envelopes);
