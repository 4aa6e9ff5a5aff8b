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
export type {
  Envelope,
  EventData,
  EventEnvelope,
  EventType,
  EventsPage,
  ReactionEmoji,
} from '../lib/protocol';
export type {
  AnalyticsData,
  HandEntry,
  MeetingSnapshot,
  MeetingStatus,
  PollView,
  RosterData,
  RosterMember,
  SpeakerData,
  StateData,
  TypedAnalyticsEnvelope,
  TypedStateEnvelope,
} from '../lib/domain/meeting';
