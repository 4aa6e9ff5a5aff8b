/**
 * The OpenAPI 3.1 document of the HTTP API, built from the same zod schemas that validate requests
 * (lib/domain/validation.ts) and from the response schemas below, which the e2e tests check real
 * responses against. docs/openapi.json is this document, committed; test/unit/openapi.test.ts fails
 * when it is stale, when an operation here has no registered function (or the reverse), or when the
 * document is not valid OpenAPI. Regenerate: `npm run build && npm run openapi`
 * (scripts/openapi.mjs).

 */
import * as path from 'node:path';
import { z } from 'zod';
import {
  CLIENT_EVENT_TYPES,
  MAX_BATCH,
  clientEvent,
  createMeetingBody,
  eventsBody,
  joinBody,
  resourceId,
  roleBody,
} from './domain/validation';
import { REACTION_EMOJI } from './protocol';
import { DEFAULT_RATE_LIMITS } from './config';
import { eventsPageSchema } from './http/schemas';
import { eventsQuery, participantsQuery, rebuildQuery, streamQuery, summaryQuery } from './http/queries';

// ---------- response schemas ----------

const isoTime = z.iso.datetime({ offset: true });

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() }).strict()).optional(),
  })
  .meta({
    description: 'RFC 9457 problem details; `type` is `urn:meetstream:problem:<slug>` or about:blank.',
  });

export const meetingSchema = z
  .object({
    id: resourceId,
    title: z.string(),
    status: z.enum(['scheduled', 'live', 'ended']),
    startsAt: isoTime.optional(),
    endsAt: isoTime.optional(),
    createdAt: isoTime,
    startedAt: isoTime.optional(),
    endedAt: isoTime.optional(),
  })
  .strict();

export const participantSchema = z
  .object({
    id: resourceId,
    displayName: z.string(),
    role: z.enum(['host', 'presenter', 'attendee']),
    status: z.enum(['present', 'left', 'removed']),
    joinedAt: isoTime,
    leftAt: isoTime.optional(),
    removedAt: isoTime.optional(),
  })
  .strict();

export const createdMeetingSchema = z
  .object({
    meeting: meetingSchema,
    joinCode: z.string(),
    host: participantSchema,
    hostToken: z.string(),
    expiresAt: isoTime,
  })
  .strict();

export const joinedSchema = z
  .object({ participant: participantSchema, token: z.string(), expiresAt: isoTime })
  .strict();

export const acceptedSchema = z
  .object({ accepted: z.array(z.object({ id: z.string(), receivedAt: isoTime }).strict()) })
  .strict();

const hopQuantilesSchema = z
  .object({
    count: z.int().min(0),
    p50: z.int().min(0),
    p95: z.int().min(0),
    p99: z.int().min(0),
    max: z.int().min(0),
  })
  .strict()
  .nullable();
export const hopLatencySchema = z
  .object({ committed: hopQuantilesSchema, processed: hopQuantilesSchema, pushed: hopQuantilesSchema })
  .strict()
  .meta({
    description:
      'Milliseconds from accepted to each hop (p50/p95/p99/max, null before the first measurement); see docs/delivery-design.md, "Hop latency".',
  });

export const meetingViewSchema = z
  .object({
    meeting: meetingSchema,
    you: participantSchema,
    seq: z
      .int()
      .min(0)
      .meta({ description: 'Last seq the state includes; catch up with GET …/events?after=seq.' }),
    state: z.record(z.string(), z.unknown()).nullable().meta({
      description:
        'Live snapshot (roster, hands, polls, speaker, analytics: `snapshot()` in lib/domain/meeting.ts); null until the first event was processed.',
    }),
    latency: hopLatencySchema,
  })
  .strict();

export const participantPageSchema = z
  .object({
    items: z.array(participantSchema),
    next: z.string().nullable().meta({ description: 'Cursor for `?cursor=`; null on the last page.' }),
    continuation: z.string().nullable().meta({ description: 'Deprecated: the same value as `next`.' }),
  })
  .strict();

export const negotiatedSchema = z.object({ url: z.string(), group: z.string(), expiresAt: isoTime }).strict();
export const streamTicketSchema = z.object({ ticket: z.string(), expiresAt: isoTime }).strict();
export const meetingResponseSchema = z.object({ meeting: meetingSchema }).strict();
export const participantResponseSchema = z.object({ participant: participantSchema }).strict();
const probeSchema = z
  .object({ ok: z.boolean(), latencyMs: z.int().min(0), error: z.string().optional() })
  .strict();
export const healthSchema = z
  .object({
    status: z.enum(['ok', 'degraded']),
    dependencies: z.object({ cosmos: probeSchema, webPubSub: probeSchema }).strict(),
    processing: z
      .object({
        parkedBatches: z.int().min(0).optional().meta({
          description: 'Change-feed documents set aside after failures; above 0 needs an operator.',
        }),
        latency: hopLatencySchema,
      })
      .strict(),
  })
  .strict();
export const rebuildSchema = z
  .object({
    meetingId: z.string(),
    events: z.int().min(0),
    caughtUp: z.boolean(),
    equal: z.boolean(),
    differences: z.array(z.string()),
    applied: z.boolean(),
    asOf: z.number(),
    rebuilt: z.record(z.string(), z.unknown()),
    parked: z.array(z.record(z.string(), z.unknown())),
  })
  .strict();
export const summaryLinkSchema = z.object({ url: z.string(), expiresAt: isoTime }).strict();
export const joinCodeSchema = z.object({ joinCode: z.string() }).strict();

// ---------- operations ----------

type Auth = 'functionKey' | 'adminKey' | 'participant' | 'none';

interface Operation {
  /** The registered function's name. */
  operationId: string;
  method: 'get' | 'post' | 'put' | 'delete' | 'options';
  /** Route after the /api prefix, as registered. */
  route: string;
  summary: string;
  auth: Auth;
  request?: { schema: z.ZodType; example: unknown; required?: boolean; json?: Record<string, unknown> };
  query?: z.ZodObject;
  responses: Record<
    string,
    { description: string; schema?: z.ZodType; example?: unknown; headers?: string[] }
  >;
  problems: number[];
}

const M = 'ZUqB2pcmOqg5hFYW';
const P = 'k3tV0aWq2Tn1zXcE';
const at = '2026-06-01T12:00:00.000Z';
const exampleMeeting = { id: M, title: 'Stand-up', status: 'live', createdAt: at, startedAt: at };
const exampleParticipant = { id: P, displayName: 'Ann', role: 'attendee', status: 'present', joinedAt: at };
const participantRoutes = [401, 403, 404, 429] as const;

export const OPERATIONS: Operation[] = [
  {
    operationId: 'createMeeting',
    method: 'post',
    route: 'meetings',
    summary: 'Create a meeting (organisers). Answers the join code once and the host token.',
    auth: 'functionKey',
    request: { schema: createMeetingBody, example: { title: 'Stand-up', startsAt: '2026-06-01T12:00:00Z' } },
    responses: {
      201: {
        description: 'Created',
        schema: createdMeetingSchema,
        headers: ['Location'],
        example: {
          meeting: exampleMeeting,
          joinCode: 'K7QX4MZP2R',
          host: { ...exampleParticipant, id: 'h0St7dQ2mV9xLpA1', displayName: 'Host', role: 'host' },
          hostToken: 'eyJ…',
          expiresAt: at,
        },
      },
    },
    problems: [400, 401, 413, 415],
  },
  {
    operationId: 'joinMeeting',
    method: 'post',
    route: 'meetings/{meetingId}/join',
    summary:
      'Join with the join code (201, a new attendee), or — without a body, with the bearer token of a participant who left — rejoin under the same identity (200). 429 when many join the meeting at once, or after too many wrong codes from one address.',
    auth: 'none',
    request: { schema: joinBody, example: { displayName: 'Ann', joinCode: 'K7QX4MZP2R' }, required: false },
    responses: {
      200: { description: 'Rejoined', schema: joinedSchema },
      201: {
        description: 'Joined',
        schema: joinedSchema,
        example: { participant: exampleParticipant, token: 'eyJ…', expiresAt: at },
      },
    },
    problems: [400, 401, 403, 404, 409, 413, 415, 429],
  },
  {
    operationId: 'rotateJoinCode',
    method: 'post',
    route: 'meetings/{meetingId}/join-code',
    summary:
      'Host: a new join code; the old one stops working (within 1 s on every instance). Participants who joined stay.',
    auth: 'participant',
    responses: {
      200: { description: 'The new join code', schema: joinCodeSchema, example: { joinCode: 'R2D4XK9QPW' } },
    },
    problems: [400, ...participantRoutes, 409],
  },
  {
    operationId: 'getMeeting',
    method: 'get',
    route: 'meetings/{meetingId}',
    summary: 'The meeting, the caller, and the live state snapshot with its seq.',
    auth: 'participant',
    responses: { 200: { description: 'The meeting', schema: meetingViewSchema } },
    problems: [400, ...participantRoutes],
  },
  {
    operationId: 'postEvents',
    method: 'post',
    route: 'meetings/{meetingId}/events',
    summary: `Post one event or a batch of up to ${MAX_BATCH} (stored atomically). The client's \`id\` is the idempotency key.`,
    auth: 'participant',
    request: {
      schema: eventsBody,
      // The same schema with the event defined once (test/unit/openapi.test.ts checks they are equal).
      json: {
        anyOf: [
          { $ref: '#/components/schemas/ClientEvent' },
          {
            type: 'object',
            properties: {
              events: {
                type: 'array',
                minItems: 1,
                maxItems: MAX_BATCH,
                items: { $ref: '#/components/schemas/ClientEvent' },
              },
            },
            required: ['events'],
            additionalProperties: false,
          },
        ],
      },
      example: {
        events: [
          { id: 'c-1', type: 'chat.message', data: { text: 'hi' } },
          { type: 'reaction', data: { emoji: '👍' } },
        ],
      },
    },
    responses: {
      202: {
        description: 'Accepted (a replay of stored ids answers the same, with `Idempotent-Replayed: true`).',
        schema: acceptedSchema,
        headers: ['Idempotent-Replayed'],
        example: { accepted: [{ id: 'c-1', receivedAt: at }] },
      },
    },
    problems: [400, 401, 403, 404, 409, 413, 415, 429],
  },
  {
    operationId: 'negotiate',
    method: 'post',
    route: 'meetings/{meetingId}/negotiate',
    summary:
      "A Web PubSub client URL that can join only this meeting's group, expiring with the participant token.",
    auth: 'participant',
    responses: { 200: { description: 'Client URL', schema: negotiatedSchema } },
    problems: [400, ...participantRoutes],
  },
  {
    operationId: 'createStreamTicket',
    method: 'post',
    route: 'meetings/{meetingId}/events/stream-ticket',
    summary:
      'A 30-second ticket that opens one event stream (`GET …/events/stream?ticket=`) from EventSource, which cannot send headers; participant tokens are never accepted in URLs.',
    auth: 'participant',
    responses: { 200: { description: 'Stream ticket', schema: streamTicketSchema } },
    problems: [400, ...participantRoutes],
  },
  {
    operationId: 'startMeeting',
    method: 'post',
    route: 'meetings/{meetingId}/start',
    summary: 'Host: a scheduled meeting goes live now (idempotent).',
    auth: 'participant',
    responses: { 200: { description: 'Live', schema: meetingResponseSchema } },
    problems: [400, ...participantRoutes, 409],
  },
  {
    operationId: 'leaveMeeting',
    method: 'post',
    route: 'meetings/{meetingId}/leave',
    summary: 'The caller leaves (idempotent). Rejoin with POST …/join and the token.',
    auth: 'participant',
    responses: { 200: { description: 'Left', schema: participantResponseSchema } },
    problems: [400, ...participantRoutes, 409],
  },
  {
    operationId: 'endMeeting',
    method: 'post',
    route: 'meetings/{meetingId}/end',
    summary: 'Host: end the meeting (idempotent). Events are refused afterwards (409).',
    auth: 'participant',
    responses: { 200: { description: 'Ended', schema: meetingResponseSchema } },
    problems: [400, ...participantRoutes],
  },
  {
    operationId: 'listParticipants',
    method: 'get',
    route: 'meetings/{meetingId}/participants',
    summary: 'Everyone who ever joined, paged: pass `next` back as `?cursor=` until it is null.',
    auth: 'participant',
    query: participantsQuery,
    responses: { 200: { description: 'A page', schema: participantPageSchema } },
    problems: [400, ...participantRoutes],
  },
  {
    operationId: 'removeParticipant',
    method: 'delete',
    route: 'meetings/{meetingId}/participants/{participantId}',
    summary:
      "Host: remove a participant: their tokens stop working, their Web PubSub connections are closed, participant.left {reason: 'removed'} is emitted. Idempotent.",
    auth: 'participant',
    responses: { 204: { description: 'Removed' } },
    problems: [400, ...participantRoutes, 409, 503],
  },
  {
    operationId: 'setParticipantRole',
    method: 'put',
    route: 'meetings/{meetingId}/participants/{participantId}/role',
    summary: 'Host: promote an attendee to presenter, or demote.',
    auth: 'participant',
    request: { schema: roleBody, example: { role: 'presenter' } },
    responses: { 200: { description: 'Changed', schema: participantResponseSchema } },
    problems: [400, ...participantRoutes, 409, 413, 415],
  },
  {
    operationId: 'health',
    method: 'get',
    route: 'health',
    summary:
      'Liveness, reachability of Cosmos DB and Web PubSub (503 when one is down), and how many change-feed batches were parked after failures retrying could not fix.',
    auth: 'none',
    responses: {
      200: { description: 'Healthy', schema: healthSchema },
      503: { description: 'A dependency is down', schema: healthSchema },
    },
    problems: [],
  },
  {
    operationId: 'getEvents',
    method: 'get',
    route: 'meetings/{meetingId}/events',
    summary:
      "Catch-up: the delivered envelopes after `after` (a seq) or on from `cursor` (a page's `next`), gapless and in seq order; `limit` 1–1000 (default 200); `wait` (seconds, ≤ 30) makes it a long-poll. 410 (with `firstAvailableSeq`) when what was asked for expired.",
    auth: 'participant',
    query: eventsQuery,
    responses: { 200: { description: 'A page of envelopes', schema: eventsPageSchema } },
    problems: [400, 401, 403, 404, 410, 429],
  },
  {
    operationId: 'streamEvents',
    method: 'get',
    route: 'meetings/{meetingId}/events/stream',
    summary:
      'Server-Sent Events on the same sequence: one message per envelope, `id: <seq>`, resumed after the `Last-Event-ID` header (or `?after=`). Authorization: Bearer, or `?ticket=` from createStreamTicket; `?access_token=` is refused (400).',
    auth: 'participant',
    query: streamQuery,
    responses: { 200: { description: 'text/event-stream: `data:` is one Envelope (JSON)' } },
    problems: [400, 401, 403, 404, 429],
  },
  {
    operationId: 'getSummary',
    method: 'get',
    route: 'meetings/{meetingId}/summary',
    summary:
      'End-of-meeting (or so-far) report: JSON (default), `?format=html` for a page with charts, or `?format=svg&chart=talkTime|timeline|polls`.',
    auth: 'participant',
    query: summaryQuery,
    responses: { 200: { description: 'The report (`{summary, final}` as JSON, or HTML, or SVG)' } },
    problems: [400, 401, 403, 404, 429],
  },
  {
    operationId: 'createSummaryLink',
    method: 'post',
    route: 'meetings/{meetingId}/summary/link',
    summary:
      "A link that opens the summary page in a browser tab for 5 minutes: `url` carries a one-purpose token (`?link=`) for this meeting's summary only, refused as a bearer token anywhere else; the participant token never goes in a URL.",
    auth: 'participant',
    responses: { 200: { description: 'The link', schema: summaryLinkSchema } },
    problems: [400, ...participantRoutes],
  },
  {
    operationId: 'rebuildMeeting',
    method: 'post',
    route: 'ops/meetings/{meetingId}/rebuild',
    summary:
      'Operators: recompute state and analytics from the event log and compare with the live state; lists the documents the processor parked.',
    auth: 'adminKey',
    query: rebuildQuery,
    responses: { 200: { description: 'Comparison', schema: rebuildSchema } },
    problems: [401, 404],
  },
  {
    operationId: 'webPubSubEvents',
    method: 'options',
    route: 'webpubsub/events',
    summary: 'Web PubSub upstream: abuse-protection handshake (WebHook-Request-Origin).',
    auth: 'none',
    responses: { 200: { description: 'Allowed origin' } },
    problems: [400],
  },
  {
    operationId: 'webPubSubEvents',
    method: 'post',
    route: 'webpubsub/events',
    summary:
      'Web PubSub upstream CloudEvents (signature checked): the blocking connect (401 for removed or unknown participants), connected/disconnected feeding presence.',
    auth: 'none',
    responses: { 204: { description: 'Handled' } },
    problems: [400, 401],
  },
];

const PROBLEM_TEXT: Record<number, string> = {
  400: 'Invalid input: one entry per field in `errors`',
  401: 'No, invalid, expired or revoked token (or function key)',
  403: 'Wrong meeting or role, or wrong join code',
  404: 'No such meeting, participant or poll',
  409: 'Conflicts with the current state (ended, not started, left, closed poll, reused id, …)',
  410: 'Expired (retention)',
  413: 'Body too large',
  415: 'Not application/json (UTF-8)',
  429: 'Rate limited: retry after `Retry-After` seconds',
  503: 'Cosmos DB throttled beyond retries or a dependency is unavailable: retry after `Retry-After` seconds',
};

/** Zod → JSON Schema 2020-12 (what OpenAPI 3.1 uses), as clients send it. */
export function jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'input'): Record<string, unknown> {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete out.$schema;
  return out;
}

export function openApiPath(route: string): string {
  return `/${route}`;
}

export function buildOpenApi(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    const params = [...op.route.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: jsonSchema(resourceId),
    }));
    if (op.query) {
      const shape = jsonSchema(op.query) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, schema] of Object.entries(shape.properties ?? {}))
        params.push({
          name,
          in: 'query',
          required: shape.required?.includes(name) ?? false,
          schema,
        } as never);
    }
    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(op.responses)) {
      const headers = Object.fromEntries(
        (r.headers ?? []).map((h) => [h, { schema: { type: 'string' }, description: HEADER_TEXT[h] }]),
      );
      responses[status] = {
        description: r.description,
        ...(r.headers ? { headers } : {}),
        ...(r.schema
          ? {
              content: {
                'application/json': {
                  schema: jsonSchema(r.schema, 'output'),
                  ...(r.example !== undefined ? { example: r.example } : {}),
                },
              },
            }
          : {}),
      };
    }
    for (const status of op.problems)
      responses[String(status)] = { $ref: `#/components/responses/Problem${status}` };
    const security =
      op.auth === 'functionKey' || op.auth === 'adminKey'
        ? [{ functionKeyHeader: [] }, { functionKeyQuery: [] }]
        : op.auth === 'participant'
          ? [{ participantToken: [] }]
          : [];
    (paths[openApiPath(op.route)] ??= {})[op.method] = {
      operationId: op.method === 'options' ? `${op.operationId}Options` : op.operationId,
      summary: op.summary,
      'x-function': op.operationId,
      'x-auth-level': op.auth === 'functionKey' ? 'function' : op.auth === 'adminKey' ? 'admin' : 'anonymous',
      security,
      ...(params.length ? { parameters: params } : {}),
      ...(op.request
        ? {
            requestBody: {
              required: op.request.required ?? true,
              content: {
                'application/json': { schema: jsonSchema(op.request.schema), example: op.request.example },
              },
            },
          }
        : {}),
      responses,
    };
  }
  const problemResponses = Object.fromEntries(
    Object.entries(PROBLEM_TEXT).map(([status, description]) => [
      `Problem${status}`,
      {
        description,
        ...(status === '429' || status === '503'
          ? { headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'Seconds to wait' } } }
          : {}),
        content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
      },
    ]),
  );
  return {
    openapi: '3.1.0',
    info: {
      title: 'meetstream',
      version: '1.0.0',
      description: [
        'Serverless real-time meeting data backend. Reference with examples: docs/api.md.',
        `Event types: ${CLIENT_EVENT_TYPES.join(', ')}. Reactions: ${REACTION_EMOJI.join(' ')}.`,
        `Rate limits per participant and instance: ${DEFAULT_RATE_LIMITS.events.perSecond} events/s (burst ${DEFAULT_RATE_LIMITS.events.burst}), ` +
          `${DEFAULT_RATE_LIMITS.requests.perSecond} other requests/s (burst ${DEFAULT_RATE_LIMITS.requests.burst}).`,
      ].join('\n\n'),
    },
    servers: [{ url: '/api' }],
    paths,
    components: {
      schemas: { Problem: jsonSchema(problemSchema, 'output'), ClientEvent: jsonSchema(clientEvent) },
      responses: problemResponses,
      securitySchemes: {
        participantToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'Participant token (HS256).',
        },
        functionKeyHeader: { type: 'apiKey', in: 'header', name: 'x-functions-key' },
        functionKeyQuery: { type: 'apiKey', in: 'query', name: 'code' },
      },
    },
  };
}

const HEADER_TEXT: Record<string, string> = {
  Location: 'URL of the created meeting',
  'Idempotent-Replayed': '`true` when every event of the request was already stored',
};

export const OPENAPI_FILE = path.join('docs', 'openapi.json');
