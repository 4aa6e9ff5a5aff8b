/**
 * meetstream's typed client (browser and Node): see docs/client.md.
 */
export {
  MeetstreamClient,
  type ConnectionStatus,
  type GapInfo,
  type MeetstreamClientOptions,
  type Transport,
  type TypedEventEnvelope,
} from './meetstreamClient';
export { MeetstreamError, joinMeeting, type Joined, type Negotiated, type TokenSource } from './http';
export { SseParser, type EventSourceFactory, type EventSourceLike, type SseMessage } from './sse';
export { CLIENT_EVENT_TYPES, REACTION_EMOJI, SCHEMA_VERSION } from '../lib/protocol/events';
export type {
  ClientEventType,
  EventData,
  EventType,
  OutgoingEvent,
  ReactionEmoji,
  Role,
} from '../lib/protocol/events';
export type {
  AnalyticsData,
  AnalyticsType,
  Envelope,
  EventEnvelope,
  EventsPage,
  HandEntry,
  MeetingSnapshot,
  MeetingStatus,
  PollView,
  RosterData,
  RosterMember,
  SpeakerData,
  StateData,
  StateType,
  TypedAnalyticsEnvelope,
  TypedStateEnvelope,
} from '../lib/protocol/envelopes';
