/**
 * What the room page shows, folded from the meeting's envelopes: pure, no DOM, so it is
 * unit-tested beside the server's reducer and the page only renders it.
 *
 * The page starts from the live snapshot (`GET /meetings/{id}`, state and analytics as of its
 * `seq`) and reads the log from the start for the chat history. State and analytics envelopes at
 * or before the snapshot's seq are already in the snapshot and are skipped; event envelopes always
 * feed the chat and captions, so a page opened late (or reloaded) shows the whole conversation.
 * State envelopes carry whole values (a roster member, the hand queue, one poll), so applying
 * them in seq order gives the same state as a fresh snapshot.
 */
import type {
  AnalyticsData,
  Envelope,
  HandEntry,
  MeetingSnapshot,
  MeetingStatus,
  PollView,
  RosterMember,
  SpeakerData,
} from '@meetstream/client';

export interface ChatLine {
  seq: number;
  id: string;
  actor: string | null;
  text: string;
  at: number;
}

export interface CaptionLine {
  seq: number;
  actor: string | null;
  text: string;
  final: boolean;
}

export interface FloatingReaction {
  seq: number;
  emoji: string;
  /** When it started floating (receive time), to let the page drop it after its animation. */
  since: number;
}

export interface RoomModel {
  /** The snapshot's seq: state and analytics up to here came with it. */
  baseSeq: number;
  /** The last envelope folded in. */
  seq: number;
  status: MeetingStatus;
  roster: Map<string, RosterMember>;
  present: number;
  hands: HandEntry[];
  polls: Map<string, PollView>;
  speaker: SpeakerData;
  analytics: Partial<AnalyticsData>;
  chat: ChatLine[];
  /** The last final caption segments, and the interim one in progress per speaker. */
  captions: CaptionLine[];
  reactions: FloatingReaction[];
  /** accepted → processed → received in this page, ms (the last LATENCY_SAMPLES events). */
  latency: { serverMs: number[]; totalMs: number[] };
  /** Every envelope folded, as `seq kind/type`, for the sequence check of the browser tests. */
  trail: string[];
}

export const MAX_CHAT_LINES = 500;
export const MAX_CAPTIONS = 8;
export const REACTION_FLOAT_MS = 3000;
export const LATENCY_SAMPLES = 200;
/** The trail is for tests and debugging: bounded so a long meeting does not grow the page. */
export const MAX_TRAIL = 20_000;

export function emptyRoom(): RoomModel {
  return {
    baseSeq: 0,
    seq: 0,
    status: 'scheduled',
    roster: new Map(),
    present: 0,
    hands: [],
    polls: new Map(),
    speaker: { participantId: null, since: null },
    analytics: {},
    chat: [],
    captions: [],
    reactions: [],
    latency: { serverMs: [], totalMs: [] },
    trail: [],
  };
}

/** The model as of a snapshot (null: nothing processed yet, the empty room at seq 0). */
export function roomFromSnapshot(seq: number, snapshot: MeetingSnapshot | null): RoomModel {
  const room = emptyRoom();
  room.baseSeq = seq;
  if (!snapshot) return room;
  room.status = snapshot.status;
  for (const member of snapshot.roster) room.roster.set(member.participantId, member);
  room.present = snapshot.roster.filter((m) => m.present).length;
  room.hands = snapshot.hands;
  for (const poll of snapshot.polls) room.polls.set(poll.pollId, poll);
  room.speaker = snapshot.speaker;
  room.analytics = snapshot.analytics;
  return room;
}

/** Folds one envelope (delivered in seq order by the typed client) into the room. */
export function fold(room: RoomModel, e: Envelope, receivedAt: number): void {
  room.seq = Math.max(room.seq, e.seq);
  if (room.trail.length < MAX_TRAIL) room.trail.push(`${e.seq} ${e.kind}/${e.type}`);
  if (e.kind === 'event') return foldEvent(room, e, receivedAt);
  // Already part of the snapshot the page started from.
  if (e.seq <= room.baseSeq) return;
  if (e.kind === 'state') foldState(room, e.type, e.data);
  else foldAnalytics(room, e.type, e.data);
}

function foldEvent(room: RoomModel, e: Extract<Envelope, { kind: 'event' }>, receivedAt: number): void {
  const data = e.data;
  const live = e.seq > room.baseSeq;
  if (e.type === 'chat.message' && typeof data.text === 'string') {
    room.chat.push({ seq: e.seq, id: e.id, actor: e.actor, text: data.text, at: Date.parse(e.at) });
    if (room.chat.length > MAX_CHAT_LINES) room.chat.splice(0, room.chat.length - MAX_CHAT_LINES);
  } else if (e.type === 'caption.segment' && typeof data.text === 'string') {
    // An interim segment is replaced by the speaker's next one; a final one stays.
    const last = room.captions[room.captions.length - 1];
    if (last && !last.final && last.actor === e.actor) room.captions.pop();
    room.captions.push({ seq: e.seq, actor: e.actor, text: data.text, final: data.final === true });
    if (room.captions.length > MAX_CAPTIONS) room.captions.splice(0, room.captions.length - MAX_CAPTIONS);
  } else if (e.type === 'reaction' && typeof data.emoji === 'string' && live) {
    room.reactions = room.reactions.filter((r) => receivedAt - r.since < REACTION_FLOAT_MS);
    room.reactions.push({ seq: e.seq, emoji: data.emoji, since: receivedAt });
  }
  if (live && e.trace) {
    pushSample(room.latency.serverMs, e.trace.processed - e.trace.accepted);
    pushSample(room.latency.totalMs, receivedAt - e.trace.accepted);
  }
}

function foldState(room: RoomModel, type: string, data: Record<string, unknown>): void {
  if (type === 'roster') {
    const member = data.participant as RosterMember;
    room.roster.set(member.participantId, member);
    room.present = typeof data.present === 'number' ? data.present : room.present;
  } else if (type === 'hands') {
    room.hands = (data.queue as HandEntry[]) ?? [];
  } else if (type === 'polls') {
    const poll = data.poll as PollView;
    room.polls.set(poll.pollId, poll);
  } else if (type === 'speaker') {
    room.speaker = data as unknown as SpeakerData;
  } else if (type === 'status') {
    room.status = (data as { status: MeetingStatus }).status;
  }
}

function foldAnalytics(room: RoomModel, type: string, data: Record<string, unknown>): void {
  if (type !== 'timeline') {
    (room.analytics as Record<string, unknown>)[type] = data;
    return;
  }
  // Timeline envelopes carry only the minutes that changed: merge them by their start.
  const next = data as unknown as AnalyticsData['timeline'];
  const byStart = new Map((room.analytics.timeline?.minutes ?? []).map((m) => [m.start, m]));
  for (const minute of next.minutes) byStart.set(minute.start, minute);
  room.analytics.timeline = {
    minuteMs: next.minuteMs,
    totals: next.totals,
    minutes: [...byStart.values()].sort((a, b) => a.start - b.start),
  };
}

function pushSample(samples: number[], ms: number): void {
  if (!Number.isFinite(ms)) return;
  samples.push(Math.max(0, ms));
  if (samples.length > LATENCY_SAMPLES) samples.shift();
}

/** The q-quantile (0..1) of samples, nearest rank; undefined when there are none. */
export function quantile(samples: readonly number[], q: number): number | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** A participant's name for display: their roster name, or a short form of the id. */
export function nameOf(room: RoomModel, participantId: string | null): string {
  if (!participantId) return 'meetstream';
  return room.roster.get(participantId)?.displayName ?? `#${participantId.slice(0, 6)}`;
}

export type Presence = 'present' | 'away' | 'left';

export function presenceOf(member: RosterMember): Presence {
  if (!member.present) return 'left';
  return member.connected === false ? 'away' : 'present';
}
