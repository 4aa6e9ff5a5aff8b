/**
 * Schemas for everything clients send, with errors mapped to problem+json field errors.
 *
 * Event `data` limits mirror the processor's reducer (lib/domain/meeting.ts MAX_*) so that an
 * event the reducer would drop as malformed is refused here with a 400 instead of being stored.
 * Every object is strict: unknown fields are errors, never silently dropped. The same schemas
 * produce the request schemas of docs/openapi.json (checked by test/unit/openapi.test.ts).
 */
import { z } from 'zod';
import { badRequest, type FieldError } from '../errors';
import {
  CLIENT_EVENT_TYPES,
  EMPTY_DATA_TYPES,
  REACTION_EMOJI,
  type ClientEventType,
  type EventData,
} from '../protocol';
import {
  MAX_CAPTION,
  MAX_CHAT,
  MAX_DISPLAY_NAME,
  MAX_OPTION,
  MAX_PARTICIPANT_ID,
  MAX_POLL_ID,
  MAX_QUESTION,
} from './meeting';
import { MAX_POLL_OPTIONS, MIN_POLL_OPTIONS } from './rules';

export const MAX_BATCH = 100;
// The option range is a rule of the meeting (lib/domain/rules.ts), kept here for existing imports.
export { MAX_POLL_OPTIONS, MIN_POLL_OPTIONS };
export const MAX_TITLE = 200;
/** Captions may be timed from the stream start or by epoch ms; both fit in a safe integer. */
const MAX_MS = Number.MAX_SAFE_INTEGER;
/** Ids the server gives its own events; clients may not take them. */
export const RESERVED_ID_PREFIXES = ['sys-', 'srv-'];

/**
 * The one rule for control characters (C0, DEL, C1): none in identifiers or one-line text; free
 * text (chat, captions) may hold tab, newline and carriage return and nothing else, so no text
 * that reaches a terminal, a log or another participant's page can carry bells or escape sequences.
 */
// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const CONTROL_BUT_LINE_BREAKS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
const notBlank = (s: string) => s.trim().length > 0;

/** Cosmos DB ids: no / \ ? #, at most 255 characters; we also refuse control characters. */
export const cosmosId = z
  .string()
  .min(1)
  .max(255)
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  .regex(/^[^/\\?#\u0000-\u001f\u007f-\u009f]+$/, 'must not contain / \\ ? # or control characters')
  .refine((s) => s.trim() === s, 'must not start or end with whitespace');

/** A client event id (idempotency key): a Cosmos id that is not one of the server's own. */
export const eventId = cosmosId.refine(
  (s) => !RESERVED_ID_PREFIXES.some((p) => s.toLowerCase().startsWith(p)),
  `must not start with ${RESERVED_ID_PREFIXES.join(' or ')} (reserved for server events)`,
);

/** Ids the server issues (meetings, participants): base64url, and what the reducer accepts. */
export const resourceId = z
  .string()
  .min(1)
  .max(MAX_PARTICIPANT_ID)
  .regex(/^[A-Za-z0-9_-]+$/, 'must be letters, digits, _ or -');

/** Poll ids are chosen by clients and become part of a Cosmos id (`poll.{pollId}`). */
export const pollId = z
  .string()
  .min(1)
  .max(MAX_POLL_ID)
  .regex(/^[A-Za-z0-9._~-]+$/, 'must be letters, digits, . _ ~ or -');

/** One line of human text: not blank, no control characters. */
const line = (max: number) =>
  z
    .string()
    .min(1, { abort: true })
    .max(max)
    .refine(notBlank, 'must not be blank')
    .refine((s) => !CONTROL.test(s), 'must not contain control characters');

/** Free text: several lines allowed, other control characters not. */
const freeText = (max: number) =>
  z
    .string()
    .max(max)
    .refine(
      (s) => !CONTROL_BUT_LINE_BREAKS.test(s),
      'must not contain control characters other than tab and line breaks',
    );

const ms = z.int().min(0).max(MAX_MS);

// ---------- events ----------

const noData = z.object({}).strict();

export const eventDataSchemas = {
  'chat.message': z
    .object({ text: freeText(MAX_CHAT).min(1).refine(notBlank, 'must not be blank') })
    .strict(),
  reaction: z.object({ emoji: z.enum(REACTION_EMOJI) }).strict(),
  'hand.raise': noData,
  'hand.lower': z.object({ participantId: resourceId.optional() }).strict(),
  'caption.segment': z
    .object({
      text: freeText(MAX_CAPTION),
      startMs: ms,
      endMs: ms,
      final: z.boolean(),
      lang: z
        .string()
        .max(35)
        .regex(/^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/, 'must be a BCP 47 language tag')
        .optional(),
    })
    .strict()
    .refine((d) => d.endMs >= d.startMs, { path: ['endMs'], message: 'must not be before startMs' }),
  'speaking.start': noData,
  'speaking.stop': noData,
  'poll.open': z
    .object({
      pollId,
      question: line(MAX_QUESTION),
      options: z
        .array(line(MAX_OPTION))
        .min(MIN_POLL_OPTIONS)
        .max(MAX_POLL_OPTIONS)
        .refine((o) => new Set(o).size === o.length, 'must not repeat an option'),
    })
    .strict(),
  'poll.vote': z
    .object({
      pollId,
      option: z
        .int()
        .min(0)
        .max(MAX_POLL_OPTIONS - 1),
    })
    .strict(),
  'poll.close': z.object({ pollId }).strict(),
  // One schema per protocol event type, each producing exactly that type's data (lib/protocol).
} as const satisfies { [K in ClientEventType]: z.ZodType<EventData[K]> };

export { CLIENT_EVENT_TYPES, type ClientEventType };
/** Types whose data is empty: `data` may be left out. */
const OPTIONAL_DATA = new Set<ClientEventType>(EMPTY_DATA_TYPES);

function eventOf<T extends ClientEventType>(type: T) {
  const data = eventDataSchemas[type];
  return z
    .object({
      id: eventId.optional(),
      type: z.literal(type),
      data: OPTIONAL_DATA.has(type) ? data.optional() : data,
    })
    .strict();
}

type EventSchema = ReturnType<typeof eventOf<ClientEventType>>;
const [firstType, ...otherTypes] = CLIENT_EVENT_TYPES;
export const clientEvent = z.discriminatedUnion('type', [
  eventOf(firstType),
  ...otherTypes.map((type) => eventOf(type)),
] as [EventSchema, ...EventSchema[]]);

export const eventBatch = z
  .object({
    events: z
      .array(clientEvent)
      .min(1)
      .max(MAX_BATCH)
      .superRefine((events, ctx) => {
        const first = new Map<string, number>();
        events.forEach((e, i) => {
          if (e.id === undefined) return;
          const seen = first.get(e.id);
          if (seen === undefined) first.set(e.id, i);
          else
            ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `repeats the id of events[${seen}]` });
        });
      }),
  })
  .strict();

/** The body of POST …/events: one event or a batch. */
export const eventsBody = z.union([clientEvent, eventBatch]);

type ParsedEvent = z.infer<typeof clientEvent>;
/** A validated event, `data` always present and typed by `type` (the schemas produce EventData). */
export type ClientEvent = {
  [K in ClientEventType]: { id?: string; type: K; data: EventData[K] };
}[ClientEventType];

/** Parses one event or a batch into a list (the batch is refused as a whole if any event is invalid). */
export function parseEvents(body: unknown): ClientEvent[] {
  const isBatch = typeof body === 'object' && body !== null && !Array.isArray(body) && 'events' in body;
  if (!isBatch) return [withData(parse(clientEvent, body, 'event'))];
  const events = (body as { events: unknown }).events;
  // Refuse oversized batches before validating thousands of elements.
  if (Array.isArray(events) && events.length > MAX_BATCH) {
    throw badRequest('The event batch is not valid.', [
      { path: 'events', message: `must contain at most ${MAX_BATCH} events` },
    ]);
  }
  return parse(eventBatch, body, 'event batch').events.map(withData);
}

function withData(e: ParsedEvent): ClientEvent {
  return { ...e, data: e.data ?? {} } as ClientEvent;
}

// ---------- other request bodies, path and query ----------

export const createMeetingBody = z
  .object({
    title: line(MAX_TITLE),
    startsAt: z.iso.datetime({ offset: true }).optional(),
    endsAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict()
  .refine((b) => !b.startsAt || !b.endsAt || Date.parse(b.endsAt) > Date.parse(b.startsAt), {
    path: ['endsAt'],
    message: 'must be after startsAt',
  });

export const joinBody = z
  .object({
    displayName: line(MAX_DISPLAY_NAME),
    joinCode: z.string().min(1).max(64),
  })
  .strict();

export const roleBody = z.object({ role: z.enum(['presenter', 'attendee']) }).strict();

export const meetingParams = z.object({ meetingId: resourceId });
export const participantParams = z.object({ meetingId: resourceId, participantId: resourceId });

export const MAX_PAGE = 200;
export const participantsQuery = z
  .object({
    limit: z
      .string()
      .regex(/^\d{1,4}$/, 'must be an integer')
      .transform(Number)
      .pipe(z.int().min(1).max(MAX_PAGE))
      .optional(),
    continuation: z
      .string()
      .max(512)
      .regex(/^[A-Za-z0-9_-]+$/, 'must be a continuation token from a previous page')
      .optional(),
  })
  .strict();

/** Parses `value` or throws a 400 with one entry per offending field. */
export function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const errors: FieldError[] = result.error.issues.slice(0, 50).map((issue) => ({
    path: formatPath(issue.path),
    message: issue.message,
  }));
  throw badRequest(`The ${what} is not valid.`, errors);
}

function formatPath(path: PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(body)';
}
