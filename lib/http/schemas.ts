/**
 * Response schemas of the read side (catch-up and its envelopes), for the OpenAPI document. Each
 * is tied to the TypeScript type the code returns by a compile-time check below, so the document
 * cannot describe a shape the code does not produce.
 */
import { z } from 'zod';
import { CLIENT_EVENT_TYPES, SYSTEM_EVENT_TYPES } from '../protocol';
import type {
  AnalyticsEnvelope,
  ClientEventType,
  EventEnvelope,
  Envelope,
  StateEnvelope,
  SystemEventType,
} from '../protocol';
import type { EventsPageBody } from './queries';

const base = {
  seq: z.int().min(1).meta({ description: 'Gapless and increasing per meeting, from 1.' }),
  meetingId: z.string(),
  at: z.string().meta({ description: 'ISO time: receive time for events, processing time otherwise.' }),
};
const data = z.record(z.string(), z.unknown());

export const eventEnvelopeSchema = z
  .object({
    ...base,
    kind: z.literal('event'),
    type: z.enum([...CLIENT_EVENT_TYPES, ...SYSTEM_EVENT_TYPES]),
    id: z.string().meta({ description: "The event's id (the client's idempotency key when it gave one)." }),
    actor: z.string().nullable().meta({ description: 'Participant who caused it, null for system events.' }),
    data: data.meta({ description: "The event's data as accepted (ClientEvent for client events)." }),
    trace: z.object({ accepted: z.number(), processed: z.number() }).strict().optional(),
  })
  .strict();

export const stateEnvelopeSchema = z
  .object({ ...base, kind: z.literal('state'), type: z.string(), data })
  .strict()
  .meta({ description: 'A change of the live state (roster, hands, polls, speaker).' });

export const analyticsEnvelopeSchema = z
  .object({ ...base, kind: z.literal('analytics'), type: z.string(), data })
  .strict()
  .meta({ description: 'Live analytics that changed (talk time, activity).' });

export const envelopeSchema = z.discriminatedUnion('kind', [
  eventEnvelopeSchema,
  stateEnvelopeSchema,
  analyticsEnvelopeSchema,
]);

export const eventsPageSchema = z
  .object({
    items: z.array(envelopeSchema),
    next: z
      .string()
      .nullable()
      .meta({ description: 'Cursor for `?cursor=`; null at the end of the log as it was.' }),
    continuation: z.string().nullable().meta({ description: 'Deprecated: the same value as `next`.' }),
  })
  .strict();

// ---------- compile-time ties: each schema's output is exactly the type the code returns ----------

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const tie = <T extends true>(): T | undefined => undefined;

type Out<S extends z.ZodType> = z.output<S>;
tie<Equal<Out<typeof eventEnvelopeSchema>['type'], ClientEventType | SystemEventType>>();
tie<Equal<Omit<Out<typeof eventEnvelopeSchema>, 'type' | 'data'>, Omit<EventEnvelope, 'type' | 'data'>>>();
tie<Equal<Out<typeof stateEnvelopeSchema>, StateEnvelope>>();
tie<Equal<Out<typeof analyticsEnvelopeSchema>, AnalyticsEnvelope>>();
tie<Equal<Out<typeof envelopeSchema>['kind'], Envelope['kind']>>();
tie<Equal<Out<typeof eventsPageSchema>['next'], EventsPageBody['next']>>();
