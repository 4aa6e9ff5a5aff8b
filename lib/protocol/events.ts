/**
 * What participants send and what the service records: the event types, listed once, and the
 * `data` of each. The server's validators (lib/domain/validation.ts), the reducer's handler table
 * and the typed client's `send()` all derive from these lists, so adding a type here makes every
 * one of them fail to compile until it handles the new type.
 */

/** Version of stored documents and envelopes: bump it on a shape change and keep old readers working. */
export const SCHEMA_VERSION = 1;

export type Role = 'host' | 'presenter' | 'attendee';
export const ROLES: readonly Role[] = ['host', 'presenter', 'attendee'];

/** Event types participants send (POST …/events). */
export const CLIENT_EVENT_TYPES = [
  'chat.message',
  'reaction',
  'hand.raise',
  'hand.lower',
  'caption.segment',
  'speaking.start',
  'speaking.stop',
  'poll.open',
  'poll.vote',
  'poll.close',
] as const;
export type ClientEventType = (typeof CLIENT_EVENT_TYPES)[number];

/** Event types only the service writes (joins, start and end, presence). */
export const SYSTEM_EVENT_TYPES = [
  'participant.joined',
  'participant.left',
  'meeting.started',
  'meeting.ended',
  // All of a participant's Web PubSub connections dropped (after a grace period).
  'participant.away',
  // An away participant has a connection again.
  'participant.back',
] as const;
export type SystemEventType = (typeof SYSTEM_EVENT_TYPES)[number];

export type EventType = ClientEventType | SystemEventType;
export const EVENT_TYPES: readonly EventType[] = [...CLIENT_EVENT_TYPES, ...SYSTEM_EVENT_TYPES];

/** Reactions participants may send (one grapheme each). */
export const REACTION_EMOJI = [
  '👍',
  '👎',
  '❤️',
  '😂',
  '😮',
  '😢',
  '👏',
  '🎉',
  '🙌',
  '🔥',
  '🤔',
  '✅',
] as const;
export type ReactionEmoji = (typeof REACTION_EMOJI)[number];

/** The `data` of each event type, as stored and as delivered in event envelopes. */
export interface EventData {
  'chat.message': { text: string };
  reaction: { emoji: ReactionEmoji };
  'hand.raise': Record<string, never>;
  /** Without participantId: lower one's own hand. Hosts may lower anyone's. */
  'hand.lower': { participantId?: string };
  'caption.segment': { text: string; startMs: number; endMs: number; final: boolean; lang?: string };
  'speaking.start': Record<string, never>;
  'speaking.stop': Record<string, never>;
  'poll.open': { pollId: string; question: string; options: string[] };
  /** `option` is the index into the poll's options. */
  'poll.vote': { pollId: string; option: number };
  'poll.close': { pollId: string };
  'participant.joined': { participantId: string; displayName: string; role: Role };
  'participant.left': { participantId: string; reason: 'left' | 'removed' };
  'meeting.started': Record<string, never>;
  'meeting.ended': { endedBy?: string };
  'participant.away': { participantId: string };
  'participant.back': { participantId: string };
}

/** Client event types whose data is empty: senders may leave `data` out. */
export const EMPTY_DATA_TYPES = ['hand.raise', 'speaking.start', 'speaking.stop'] as const;
export type EmptyDataType = (typeof EMPTY_DATA_TYPES)[number];

/**
 * One event as a participant sends it (the body of POST …/events, or one item of a batch): `data`
 * typed by `type`, and optional exactly for the types whose data is empty.
 */
export type OutgoingEvent = {
  [K in ClientEventType]: { id?: string; type: K } & (K extends EmptyDataType
    ? { data?: EventData[K] }
    : { data: EventData[K] });
}[ClientEventType];

// Compile-time checks tying the lists to EventData: every listed type has data, every data entry
// is listed, and the empty-data types really have empty data.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const eventDataCoversTheTypes: Same<keyof EventData, EventType> = true;
const emptyDataTypesAreEmpty: Same<EventData[EmptyDataType], Record<string, never>> = true;
void eventDataCoversTheTypes;
void emptyDataTypesAreEmpty;
