/**
 * What participants receive: the envelopes (pushed, streamed and read from the catch-up route) and
 * the `data` of every state and analytics envelope type. Changing a shape here is a protocol
 * change (see SCHEMA_VERSION).
 */
import type { EventData, EventType, Role } from './events';

/** Web PubSub group of one meeting. Tokens are scoped to exactly this group. */
export function meetingGroup(meetingId: string): string {
  return `meeting.${meetingId}`;
}

interface EnvelopeBase {
  /** Gapless and increasing per meeting, starting at 1. */
  seq: number;
  meetingId: string;
  /** ISO time: for events the server receive time, for state and analytics the processing time. */
  at: string;
}

/**
 * Hop timestamps (epoch ms) for latency measurement: accepted by the HTTP API, processed by the
 * change-feed function. Clients add their receive time. Identical in live pushes and catch-up.
 */
export interface Trace {
  accepted: number;
  processed: number;
}

export interface EventEnvelope extends EnvelopeBase {
  kind: 'event';
  type: EventType;
  /** The event's id (the client's idempotency key when it gave one). */
  id: string;
  /** Participant who caused it, null for system events. */
  actor: string | null;
  data: Record<string, unknown>;
  trace?: Trace;
}

export interface StateEnvelope extends EnvelopeBase {
  kind: 'state';
  type: string;
  data: Record<string, unknown>;
}

export interface AnalyticsEnvelope extends EnvelopeBase {
  kind: 'analytics';
  type: string;
  data: Record<string, unknown>;
}

export type Envelope = EventEnvelope | StateEnvelope | AnalyticsEnvelope;
export type EnvelopeKind = Envelope['kind'];

/** One Web PubSub message: all envelopes a change-feed batch produced for one meeting, in seq order. */
export type EnvelopeBatch = Envelope[];

/** `GET /api/meetings/{id}/events` answer: envelopes after `after`, gapless and in seq order. */
export interface EventsPage {
  items: Envelope[];
  /**
   * Pass as `after` to read on; null when the page reached the end of the log as it was when read
   * (clients then wait for pushes, SSE or a long-poll).
   */
  continuation: string | null;
}

/** Counts keyed by name (event type, reason, …). */
export type NumberMap = Record<string, number>;

// ---------- state envelopes (`kind: 'state'`) ----------

export type RosterMember = {
  participantId: string;
  displayName: string;
  role: Role;
  present: boolean;
  /** First join, epoch ms. */
  joinedAt: number;
  /** Last leave, null while present. */
  leftAt: number | null;
  /**
   * Present members only: false while all of the participant's connections are down (after a grace
   * period, `participant.away`), true otherwise.
   */
  connected?: boolean;
};
export type RosterData = {
  change: 'joined' | 'left' | 'updated' | 'away' | 'back';
  participant: RosterMember;
  present: number;
};
export type HandEntry = { participantId: string; raisedAt: number };
export type HandsData = {
  /** FIFO: first raised first. */
  queue: HandEntry[];
  change: { participantId: string; action: 'raised' | 'lowered'; by: string | null };
};
export type PollView = {
  pollId: string;
  question: string;
  options: string[];
  status: 'open' | 'closed';
  /** Votes per option index. */
  tallies: number[];
  votes: number;
  openedBy: string | null;
  openedAt: number;
  closedAt: number | null;
};
export type PollsData = { poll: PollView };
export type SpeakerData = { participantId: string | null; since: number | null };
export type MeetingStatus = 'scheduled' | 'live' | 'ended';
export type StatusData = { status: MeetingStatus; startedAt: number | null; endedAt: number | null };

/** `data` of each `kind:'state'` envelope type. */
export interface StateData {
  roster: RosterData;
  hands: HandsData;
  polls: PollsData;
  speaker: SpeakerData;
  status: StatusData;
}
export type StateType = keyof StateData;

// ---------- analytics envelopes (`kind: 'analytics'`) ----------

export type ChatRateData = { windowMs: number; perMinute: number };
export type ReactionsData = {
  windowMs: number;
  total: number;
  emoji: Array<{ emoji: string; count: number }>;
};
export type TalkTimeEntry = {
  participantId: string;
  /** Cumulative ms, the open interval counted up to the "as of" time. */
  totalMs: number;
  /** Ms within the last 5 minutes. */
  recentMs: number;
  /** totalMs / Σ totalMs (0 when nobody talked). */
  share: number;
  /** recentMs / Σ recentMs (0 when nobody talked recently). */
  recentShare: number;
};
export type TalkTimeData = {
  windowMs: number;
  totalMs: number;
  recentMs: number;
  /** Present participants and everyone who talked, most talk first, at most MAX_LISTED. */
  participants: TalkTimeEntry[];
  /** How many there were before the cap. */
  participantCount: number;
};
export type BalanceData = {
  /** Gini of cumulative talk time over present participants (0 = equal; max (n−1)/n). */
  gini: number;
  /** The same over the last 5 minutes. */
  recentGini: number;
  present: number;
};
export type KeywordsData = { segments: number; keywords: Array<{ word: string; count: number }> };
export type AttendanceData = { present: number; peak: number; total: number };
export type TimelineMinute = { start: number; counts: NumberMap };
export type TimelineData = {
  minuteMs: number;
  /** Envelopes: the minutes changed since the last flush. Snapshots: every kept minute. */
  minutes: TimelineMinute[];
  /** All-time counts per event type. */
  totals: NumberMap;
};
export type EngagementEntry = { participantId: string; score: number };
export type EngagementData = {
  windowMs: number;
  /** Present participants and everyone active in the window, highest first, at most MAX_LISTED. */
  participants: EngagementEntry[];
  participantCount: number;
};

/** `data` of each `kind:'analytics'` envelope type. */
export interface AnalyticsData {
  chatRate: ChatRateData;
  reactions: ReactionsData;
  talkTime: TalkTimeData;
  balance: BalanceData;
  keywords: KeywordsData;
  attendance: AttendanceData;
  timeline: TimelineData;
  engagement: EngagementData;
}
export type AnalyticsType = keyof AnalyticsData;
export const ANALYTICS_TYPES: readonly AnalyticsType[] = [
  'chatRate',
  'reactions',
  'talkTime',
  'balance',
  'keywords',
  'attendance',
  'timeline',
  'engagement',
];

// ---------- typed views for clients ----------

type Typed<E extends { type: string; data: unknown }, M> = {
  [K in keyof M]: Omit<E, 'type' | 'data'> & { type: K; data: M[K] };
}[keyof M];
/** Event envelopes discriminated by `type`, `data` typed per event type. */
export type TypedEventEnvelope<T extends EventType = EventType> = T extends EventType
  ? Omit<EventEnvelope, 'type' | 'data'> & { type: T; data: EventData[T] }
  : never;
/** State envelopes discriminated by `type`, for typed clients. */
export type TypedStateEnvelope = Typed<StateEnvelope, StateData>;
/** Analytics envelopes discriminated by `type`, for typed clients. */
export type TypedAnalyticsEnvelope = Typed<AnalyticsEnvelope, AnalyticsData>;

// ---------- the live snapshot (GET /api/meetings/{id}) ----------

/** Full current state and analytics as of `asOf`; envelopes after its seq update it. */
export type MeetingSnapshot = {
  status: MeetingStatus;
  startedAt: number | null;
  endedAt: number | null;
  /** The time state and analytics are computed as of. */
  asOf: number;
  eventCount: number;
  counts: NumberMap;
  rejected: { total: number; byReason: NumberMap };
  /** In join order. */
  roster: Array<RosterMember & { presentMs: number }>;
  hands: HandEntry[];
  polls: PollView[];
  speaker: SpeakerData;
  analytics: AnalyticsData;
};
