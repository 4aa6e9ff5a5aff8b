/**
 * The meeting's live model and the pure reducer that folds stored events into it, producing the
 * envelopes (without seq) that participants receive. Deterministic: time comes from the caller.
 *
 * Time: every window uses event time (the event's `receivedAt`). Results are computed "as of"
 * T = max(now, latest accepted event time), and for an ended meeting T is frozen at the latest
 * event time when it ended, so its analytics stop moving. The model never depends on `now` (only
 * envelopes' `at`/`trace` do), so the state and analytics as of a given `now` are a function of the
 * event sequence alone: folding live with flushes in between and `rebuildFromEvents` give the same
 * `snapshot` (tested).
 *
 * Acceptance rules (an event that breaks one is REJECTED: it produces no envelope at all, not even
 * its `kind:'event'` envelope, changes nothing but the model's `rejected` counters, and counts in
 * no analytics):
 * - malformed `data` for its type (see the MAX_* limits), unknown type, or a client event without
 *   a participant;
 * - anything after `meeting.ended`;
 * - `hand.lower` of another participant's hand by a non-host;
 * - `poll.open` / `poll.close` by an attendee; `poll.open` with an existing pollId;
 * - `poll.vote` on an unknown or closed poll, or with an option index out of range;
 * - `hand.raise`, `speaking.start`, `poll.vote` from anyone not present in the roster;
 * - caps: MAX_PARTICIPANTS roster entries, MAX_HANDS raised hands, MAX_POLLS polls (MAX_OPEN_POLLS
 *   open at once).
 * Accepted events without a state effect (raising a raised hand, lowering a lowered one, a repeat
 * `speaking.start`, the same vote again) still get their event envelope, just no state envelope.
 * Chats, reactions and captions from participants the roster does not know are accepted; they
 * count in the chat rate, reactions and keywords but in no per-participant metric.
 *
 * Size: the model is bounded regardless of the number of events: fixed-size windows, capped lists,
 * per-participant maps keyed by roster members only. Closed polls drop their per-voter map.
 */
import {
  ANALYTICS_TYPES,
  allMetrics,
  attendance,
  balance,
  chatRate,
  createAnalytics,
  engagement,
  reactions,
  recordActivity,
  recordCaption,
  recordChat,
  recordHandRaise,
  recordReaction,
  recordVote,
  spellExpired,
  talkExpire,
  talkStart,
  talkStop,
  talkStopAll,
  talkTime,
  timeline,
  topKeywords,
  TIMELINE,
  type AnalyticsData,
  type MeetingAnalytics,
  type PresenceView,
} from '../analytics/meetingMetrics';
import { own, type NumberMap } from '../analytics/records';
import {
  mayClosePoll,
  mayLowerHand,
  mayManagePolls,
  mayOpenPoll,
  mayVote,
  pollCapacity,
  pollOptionCount,
  type PollFacts,
  type Refusal,
  type Verdict,
} from './rules';
import { hash53 } from '../analytics/stats';
import {
  CLIENT_EVENT_TYPES,
  REACTION_EMOJI,
  ROLES,
  type Envelope,
  type EventDocument,
  type EventType,
  type HandEntry,
  type MeetingSnapshot,
  type MeetingStatus,
  type PollView,
  type RosterData,
  type RosterMember,
  type SpeakerData,
  type StateData,
  type StateType,
  type StatusData,
  type Role,
} from '../protocol';

export type DraftEnvelope = Envelope extends infer E
  ? E extends Envelope
    ? Omit<E, 'seq' | 'meetingId'>
    : never
  : never;

export * from '../analytics/meetingMetrics';

// ---------- limits ----------

// The model is persisted in one Cosmos DB item (2 MB limit) after every batch, so every list and map
// is capped. With every cap reached at once the model is ~1.46 MB of JSON (tested); a typical meeting
// is 10–100 kB. 1,000 participants matches what mainstream meeting products allow in an interactive
// meeting; larger town halls would need the roster kept outside the state document.
export const MAX_PARTICIPANTS = 1_000;
export const MAX_HANDS = 1_000;
export { MAX_POLLS, MAX_OPEN_POLLS } from './rules';
/** Attendance intervals kept per participant; beyond, the oldest two merge (presentMs stays exact). */
export const MAX_INTERVALS = 10;
export const MAX_PARTICIPANT_ID = 64;
export const MAX_DISPLAY_NAME = 80;
export const MAX_POLL_ID = 64;
export const MAX_QUESTION = 300;
export const MAX_OPTION = 100;
export const MAX_CHAT = 4000;
export const MAX_CAPTION = 10_000;
const RECENT_REJECTIONS = 10;

// The envelope data shapes are the protocol's (lib/protocol/envelopes.ts); re-exported here for
// the server code that reads them beside the reducer.
export type {
  HandEntry,
  HandsData,
  MeetingSnapshot,
  MeetingStatus,
  PollView,
  PollsData,
  RosterData,
  RosterMember,
  SpeakerData,
  StateData,
  StateType,
  StatusData,
  TypedAnalyticsEnvelope,
  TypedStateEnvelope,
} from '../protocol';

// ---------- the model (plain JSON) ----------

export interface Member {
  id: string;
  displayName: string;
  role: Role;
  present: boolean;
  /**
   * [from, to | null] attendance intervals, oldest first, at most MAX_INTERVALS; the last one is
   * open while present. First join = intervals[0][0], last leave = the last interval's end.
   */
  intervals: Array<[number, number | null]>;
  /** Closed attendance, ms (exact even when intervals were merged). */
  presentMs: number;
  /** Set while present but with no live connection (`participant.away`); absent otherwise. */
  away?: true;
}

export interface Poll {
  pollId: string;
  question: string;
  options: string[];
  status: 'open' | 'closed';
  tallies: number[];
  openedBy: string | null;
  openedAt: number;
  closedAt: number | null;
  /** Current option per voter ref while open; dropped at close (bounded). */
  votes: NumberMap | null;
}

export type RejectReason =
  | 'malformed'
  | 'unknown-type'
  | 'after-end'
  | 'forbidden'
  | 'not-present'
  | 'unknown-poll'
  | 'poll-closed'
  | 'invalid-option'
  | 'duplicate-poll'
  | 'limit'
  | 'error';

export interface MeetingModel {
  version: 2;
  status: MeetingStatus;
  /** Accepted events. */
  eventCount: number;
  startedAt: number | null;
  endedAt: number | null;
  /** Latest accepted event time. */
  clock: number | null;
  /** Accepted events per type, all-time. */
  counts: NumberMap;
  rejected: {
    total: number;
    byReason: NumberMap;
    recent: Array<{ id: string; type: string; reason: RejectReason }>;
  };
  /**
   * In join order. A member's index, as a string, is its "ref": the key of every per-participant
   * map (talk, engagement, ballots), which keeps those maps small whatever the id length.
   */
  roster: Member[];
  presentCount: number;
  peak: number;
  /** FIFO. */
  hands: HandEntry[];
  /** In opening order. */
  polls: Poll[];
  openPolls: number;
  speaker: { participantId: string; since: number } | null;
  analytics: MeetingAnalytics;
  /** What flushAnalytics last emitted: not part of the meeting's state (excluded from snapshot). */
  emitted: { hashes: NumberMap; dirtyMinutes: number[] };
}

export function initialModel(): MeetingModel {
  const model: MeetingModel = {
    version: 2,
    status: 'scheduled',
    eventCount: 0,
    startedAt: null,
    endedAt: null,
    clock: null,
    counts: {},
    rejected: { total: 0, byReason: {}, recent: [] },
    roster: [],
    presentCount: 0,
    peak: 0,
    hands: [],
    polls: [],
    openPolls: 0,
    speaker: null,
    analytics: createAnalytics(),
    emitted: { hashes: {}, dirtyMinutes: [] },
  };
  // Remember the empty outputs as emitted, so a meeting emits a metric only once it has a value.
  const empty = flushData(model, 0);
  for (const type of ANALYTICS_TYPES) {
    const value = type === 'timeline' ? {} : empty[type];
    model.emitted.hashes[type] = hash53(JSON.stringify(value));
  }
  return model;
}

/** Brings a model persisted by an older version (or damaged) to the current shape, in place. */
function upgrade(model: MeetingModel): MeetingModel {
  if (model && model.version === 2 && model.analytics && Array.isArray(model.roster)) return model;
  const old = (model ?? {}) as Partial<MeetingModel>;
  const fresh = initialModel();
  if (old.status === 'live' || old.status === 'ended') fresh.status = old.status;
  if (typeof old.eventCount === 'number') fresh.eventCount = old.eventCount;
  return Object.assign(model ?? {}, fresh);
}

/** id → roster index, rebuilt lazily per roster array (never persisted). */
const ROSTER_INDEX = new WeakMap<Member[], Map<string, number>>();

function rosterIndex(m: MeetingModel): Map<string, number> {
  let index = ROSTER_INDEX.get(m.roster);
  if (!index) {
    index = new Map(m.roster.map((member, i) => [member.id, i]));
    ROSTER_INDEX.set(m.roster, index);
  }
  return index;
}

function findMember(m: MeetingModel, id: string): Member | undefined {
  const i = rosterIndex(m).get(id);
  return i === undefined ? undefined : m.roster[i];
}

/** The ref (roster index as a string) of a participant the roster knows, else null. */
function refOf(m: MeetingModel, id: string): string | null {
  const i = rosterIndex(m).get(id);
  return i === undefined ? null : String(i);
}

function findPoll(m: MeetingModel, pollId: string): Poll | undefined {
  for (let i = m.polls.length - 1; i >= 0; i--) if ((m.polls[i] as Poll).pollId === pollId) return m.polls[i];
  return undefined;
}

// ---------- the reducer ----------

type Data = Record<string, unknown>;
type Ctx = { model: MeetingModel; event: EventDocument; t: number; now: number; out: DraftEnvelope[] };
class Rejection {
  constructor(readonly reason: RejectReason) {}
}

/** Event types participants send (the rest are written by the service: joins, start, end, …). */
export const CLIENT_TYPES: ReadonlySet<string> = new Set<string>(CLIENT_EVENT_TYPES);
const EMOJI = new Set<string>(REACTION_EMOJI);

/** Folds one event into the model (mutating it) and returns the envelopes it produces. Never throws. */
export function applyEvent(model: MeetingModel, event: EventDocument, now: number): DraftEnvelope[] {
  upgrade(model);
  const type = String(event?.eventType);
  try {
    if (model.status === 'ended') throw new Rejection('after-end');
    const t = event.receivedAt;
    if (typeof t !== 'number' || !Number.isFinite(t)) throw new Rejection('malformed');
    const data = event.data;
    if (!data || typeof data !== 'object' || Array.isArray(data)) throw new Rejection('malformed');
    const actor = event.participantId;
    if (actor !== null && (typeof actor !== 'string' || actor.length > MAX_PARTICIPANT_ID)) {
      throw new Rejection('malformed');
    }
    if (CLIENT_TYPES.has(type) && !actor) throw new Rejection('malformed');

    const ctx: Ctx = { model, event, t, now, out: [] };
    const handler = own(HANDLERS, type);
    if (!handler) throw new Rejection('unknown-type');
    // Handlers validate before mutating, so a rejection leaves the model untouched.
    handler(ctx, data as Data, actor as string);
    // Talk intervals past their bound end with the first event after it (see MAX_TALK_SPELL_MS):
    // in event time, so a rebuild ends them exactly where the live fold did.
    const expired = talkExpire(model.analytics, t);
    if (model.speaker && expired.includes(refOf(model, model.speaker.participantId) ?? '')) endSpeaker(ctx);

    model.eventCount++;
    model.counts[type] = (own(model.counts, type) ?? 0) + 1;
    if (model.clock === null || t > model.clock) model.clock = t;
    const minute = recordActivity(model.analytics, type, t);
    const dirty = model.emitted.dirtyMinutes;
    if (minute !== null && !dirty.includes(minute)) {
      dirty.push(minute);
      if (dirty.length > TIMELINE.keepMinutes) dirty.shift();
    }
    const envelope: DraftEnvelope = {
      kind: 'event',
      type: type as EventType,
      id: event.id,
      actor,
      data: event.data,
      at: new Date(t).toISOString(),
      trace: { accepted: t, processed: now },
    };
    if (ctx.out.length === 0) return [envelope];
    ctx.out.unshift(envelope);
    return ctx.out;
  } catch (err) {
    reject(model, event, type, err instanceof Rejection ? err.reason : 'error');
    return [];
  }
}

function endSpeaker(ctx: Ctx): void {
  ctx.model.speaker = null;
  state(ctx, 'speaker', { participantId: null, since: null });
}

function reject(model: MeetingModel, event: EventDocument, type: string, reason: RejectReason): void {
  const r = model.rejected;
  r.total++;
  r.byReason[reason] = (own(r.byReason, reason) ?? 0) + 1;
  r.recent.push({ id: String(event?.id).slice(0, 255), type: type.slice(0, 64), reason });
  if (r.recent.length > RECENT_REJECTIONS) r.recent.shift();
}

function state<K extends StateType>(ctx: Ctx, type: K, data: StateData[K]): void {
  ctx.out.push({ kind: 'state', type, data, at: new Date(ctx.now).toISOString() });
}

type Handler = (ctx: Ctx, data: Data, actor: string) => void;
const HANDLERS: Record<EventType, Handler> = {
  'meeting.started'(ctx) {
    const m = ctx.model;
    if (m.status !== 'scheduled') return;
    m.status = 'live';
    m.startedAt = ctx.t;
    state(ctx, 'status', statusData(m));
  },

  'meeting.ended'(ctx) {
    const m = ctx.model;
    m.status = 'ended';
    m.endedAt = ctx.t;
    // Talk ends with the meeting; presence is counted up to the frozen "as of" time.
    talkStopAll(m.analytics, ctx.t);
    if (m.speaker) {
      m.speaker = null;
      state(ctx, 'speaker', { participantId: null, since: null });
    }
    // Nothing stays open in the final state and the report: polls close with their tallies (as
    // a host's poll.close would), raised hands come down.
    for (const poll of m.polls) if (poll.status === 'open') closePoll(ctx, poll);
    for (const hand of [...m.hands]) lowerHand(ctx, hand.participantId, null);
    state(ctx, 'status', statusData(m));
  },

  'participant.joined'(ctx, data) {
    const id = str(data.participantId, MAX_PARTICIPANT_ID);
    const displayName = str(data.displayName, MAX_DISPLAY_NAME, 0);
    const role = data.role as Role;
    if (!ROLES.includes(role)) throw new Rejection('malformed');
    const m = ctx.model;
    const member = findMember(m, id);
    if (!member) {
      if (m.roster.length >= MAX_PARTICIPANTS) throw new Rejection('limit');
      const created: Member = {
        id,
        displayName,
        role,
        present: true,
        intervals: [[ctx.t, null]],
        presentMs: 0,
      };
      rosterIndex(m).set(id, m.roster.length);
      m.roster.push(created);
      arrive(m);
      state(ctx, 'roster', rosterData(m, created, 'joined'));
    } else if (!member.present) {
      member.present = true;
      delete member.away;
      member.displayName = displayName;
      member.role = role;
      if (member.intervals.length >= MAX_INTERVALS) {
        // Merge the two oldest (the merged one spans their gap; presentMs stays exact).
        const [first, second] = member.intervals.splice(0, 2) as Array<[number, number | null]>;
        member.intervals.unshift([first![0], second![1]]);
      }
      member.intervals.push([ctx.t, null]);
      arrive(m);
      state(ctx, 'roster', rosterData(m, member, 'joined'));
    } else if (member.displayName !== displayName || member.role !== role) {
      member.displayName = displayName;
      member.role = role;
      state(ctx, 'roster', rosterData(m, member, 'updated'));
    }
  },

  'participant.left'(ctx, data) {
    const id = str(data.participantId, MAX_PARTICIPANT_ID);
    if (data.reason !== undefined && data.reason !== 'left' && data.reason !== 'removed') {
      throw new Rejection('malformed');
    }
    const m = ctx.model;
    const member = findMember(m, id);
    if (!member?.present) return;
    member.present = false;
    delete member.away;
    const last = member.intervals[member.intervals.length - 1];
    if (last && last[1] === null) {
      last[1] = Math.max(last[0], ctx.t);
      member.presentMs += last[1] - last[0];
    }
    m.presentCount--;
    state(ctx, 'roster', rosterData(m, member, 'left'));
    // Leaving ends talking and takes the hand down.
    talkStop(m.analytics, refOf(m, id) as string, ctx.t);
    if (m.speaker?.participantId === id) {
      m.speaker = null;
      state(ctx, 'speaker', { participantId: null, since: null });
    }
    lowerHand(ctx, id, null);
  },

  // Presence from the service's connection tracking: a flag on present members; someone with no
  // live connection cannot be heard either, so their talking ends.
  'participant.away'(ctx, data) {
    const member = findMember(ctx.model, str(data.participantId, MAX_PARTICIPANT_ID));
    if (!member?.present || member.away) return;
    member.away = true;
    state(ctx, 'roster', rosterData(ctx.model, member, 'away'));
    talkStop(ctx.model.analytics, refOf(ctx.model, member.id) as string, ctx.t);
    if (ctx.model.speaker?.participantId === member.id) endSpeaker(ctx);
  },

  'participant.back'(ctx, data) {
    const member = findMember(ctx.model, str(data.participantId, MAX_PARTICIPANT_ID));
    if (!member?.present || !member.away) return;
    delete member.away;
    state(ctx, 'roster', rosterData(ctx.model, member, 'back'));
  },

  'chat.message'(ctx, data, actor) {
    str(data.text, MAX_CHAT);
    recordChat(ctx.model.analytics, refOf(ctx.model, actor), ctx.t);
  },

  reaction(ctx, data, actor) {
    const emoji = data.emoji;
    if (typeof emoji !== 'string' || !EMOJI.has(emoji)) throw new Rejection('malformed');
    recordReaction(ctx.model.analytics, refOf(ctx.model, actor), emoji, ctx.t);
  },

  'hand.raise'(ctx, _data, actor) {
    const m = ctx.model;
    const ref = presentRef(m, actor);
    if (m.hands.some((h) => h.participantId === actor)) return;
    if (m.hands.length >= MAX_HANDS) throw new Rejection('limit');
    m.hands.push({ participantId: actor, raisedAt: ctx.t });
    recordHandRaise(m.analytics, ref, ctx.t);
    state(ctx, 'hands', {
      queue: handsView(m),
      change: { participantId: actor, action: 'raised', by: actor },
    });
  },

  'hand.lower'(ctx, data, actor) {
    const target = data.participantId === undefined ? actor : str(data.participantId, MAX_PARTICIPANT_ID);
    obey(mayLowerHand(actor, ctx.event.role, target));
    lowerHand(ctx, target, actor);
  },

  'caption.segment'(ctx, data) {
    const text = str(data.text, MAX_CAPTION, 0);
    if (!finite(data.startMs) || !finite(data.endMs) || typeof data.final !== 'boolean') {
      throw new Rejection('malformed');
    }
    if (data.lang !== undefined && typeof data.lang !== 'string') throw new Rejection('malformed');
    if (data.final) recordCaption(ctx.model.analytics, text);
  },

  'speaking.start'(ctx, _data, actor) {
    const m = ctx.model;
    talkStart(m.analytics, presentRef(m, actor), ctx.t);
    if (m.speaker?.participantId !== actor) {
      m.speaker = { participantId: actor, since: ctx.t };
      state(ctx, 'speaker', { participantId: actor, since: ctx.t });
    }
  },

  'speaking.stop'(ctx, _data, actor) {
    const m = ctx.model;
    const ref = refOf(m, actor);
    if (ref !== null) talkStop(m.analytics, ref, ctx.t);
    if (m.speaker?.participantId === actor) {
      m.speaker = null;
      state(ctx, 'speaker', { participantId: null, since: null });
    }
  },

  'poll.open'(ctx, data, actor) {
    const pollId = str(data.pollId, MAX_POLL_ID);
    const question = str(data.question, MAX_QUESTION);
    const options = data.options;
    if (!Array.isArray(options)) throw new Rejection('malformed');
    obey(pollOptionCount(options.length));
    const texts = options.map((o) => str(o, MAX_OPTION));
    obey(mayManagePolls(ctx.event.role));
    const m = ctx.model;
    obey(mayOpenPoll(optionalFacts(findPoll(m, pollId))));
    obey(pollCapacity({ total: m.polls.length, open: m.openPolls }, 1, 1));
    const poll: Poll = {
      pollId,
      question,
      options: texts,
      status: 'open',
      tallies: texts.map(() => 0),
      openedBy: actor,
      openedAt: ctx.t,
      closedAt: null,
      votes: {},
    };
    m.polls.push(poll);
    m.openPolls++;
    state(ctx, 'polls', { poll: pollView(poll) });
  },

  'poll.vote'(ctx, data, actor) {
    const pollId = str(data.pollId, MAX_POLL_ID);
    const option = data.option;
    if (typeof option !== 'number' || !Number.isInteger(option)) throw new Rejection('malformed');
    const poll = findPoll(ctx.model, pollId);
    obey(mayVote(optionalFacts(poll), option));
    if (!poll?.votes) throw new Rejection('poll-closed'); // mayVote refused it already
    const ref = presentRef(ctx.model, actor);
    const previous = own(poll.votes, ref);
    recordVote(ctx.model.analytics, ref, ctx.t);
    if (previous === option) return;
    if (previous !== undefined) poll.tallies[previous] = (poll.tallies[previous] as number) - 1;
    poll.tallies[option] = (poll.tallies[option] as number) + 1;
    poll.votes[ref] = option;
    state(ctx, 'polls', { poll: pollView(poll) });
  },

  'poll.close'(ctx, data) {
    const pollId = str(data.pollId, MAX_POLL_ID);
    obey(mayManagePolls(ctx.event.role));
    const m = ctx.model;
    const poll = findPoll(m, pollId);
    obey(mayClosePoll(optionalFacts(poll)));
    if (!poll || poll.status === 'closed') return;
    closePoll(ctx, poll);
  },
};

function closePoll(ctx: Ctx, poll: Poll): void {
  poll.status = 'closed';
  poll.closedAt = ctx.t;
  poll.votes = null;
  ctx.model.openPolls--;
  state(ctx, 'polls', { poll: pollView(poll) });
}

function arrive(m: MeetingModel): void {
  m.presentCount++;
  if (m.presentCount > m.peak) m.peak = m.presentCount;
}

function lowerHand(ctx: Ctx, target: string, by: string | null): void {
  const m = ctx.model;
  const i = m.hands.findIndex((h) => h.participantId === target);
  if (i < 0) return;
  m.hands.splice(i, 1);
  state(ctx, 'hands', { queue: handsView(m), change: { participantId: target, action: 'lowered', by } });
}

/**
 * The ref of a participant present in the roster, else the action is refused: stateful actions
 * (hand, speaking, vote) need presence, which also bounds every per-participant map.
 */
function presentRef(m: MeetingModel, id: string): string {
  const i = rosterIndex(m).get(id);
  if (i === undefined || !(m.roster[i] as Member).present) throw new Rejection('not-present');
  return String(i);
}

/** A refusal by the shared rules (lib/domain/rules.ts), recorded as the reducer's reason. */
function obey(verdict: Verdict): void {
  if (verdict !== 'ok') throw new Rejection(REJECTION[verdict]);
}

const REJECTION: Record<Refusal, RejectReason> = {
  'lower-others-hand': 'forbidden',
  'manage-polls': 'forbidden',
  'poll-option-count': 'malformed',
  'duplicate-poll': 'duplicate-poll',
  'unknown-poll': 'unknown-poll',
  'poll-closed': 'poll-closed',
  'invalid-option': 'invalid-option',
  'too-many-polls': 'limit',
  'too-many-open-polls': 'limit',
  // Participant changes are not events; should one be refused here, it is not the sender's fault.
  'already-left': 'error',
  'not-left': 'error',
  removed: 'error',
  'same-role': 'error',
};

function optionalFacts(poll: Poll | undefined): PollFacts | undefined {
  if (!poll) return undefined;
  // A poll without its votes map is closed, whatever its status says.
  return { status: poll.votes ? poll.status : 'closed', optionCount: poll.options.length };
}

/** A string of length [min, max], else the event is malformed. */
function str(value: unknown, max: number, min = 1): string {
  if (typeof value !== 'string' || value.length < min || value.length > max) throw new Rejection('malformed');
  return value;
}

function finite(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value);
}

// ---------- views ----------

function statusData(m: MeetingModel): StatusData {
  return { status: m.status, startedAt: m.startedAt, endedAt: m.endedAt };
}

function handsView(m: MeetingModel): HandEntry[] {
  return m.hands.map((h) => ({ participantId: h.participantId, raisedAt: h.raisedAt }));
}

export function memberView(member: Member): RosterMember {
  const last = member.intervals[member.intervals.length - 1];
  return {
    participantId: member.id,
    displayName: member.displayName,
    role: member.role,
    present: member.present,
    joinedAt: (member.intervals[0] as [number, number | null])[0],
    leftAt: member.present ? null : (last?.[1] ?? null),
    ...(member.present ? { connected: !member.away } : {}),
  };
}

function rosterData(m: MeetingModel, member: Member, change: RosterData['change']): RosterData {
  return { change, participant: memberView(member), present: m.presentCount };
}

export function pollView(poll: Poll): PollView {
  let votes = 0;
  for (const n of poll.tallies) votes += n;
  return {
    pollId: poll.pollId,
    question: poll.question,
    options: [...poll.options],
    status: poll.status,
    tallies: [...poll.tallies],
    votes,
    openedBy: poll.openedBy,
    openedAt: poll.openedAt,
    closedAt: poll.closedAt,
  };
}

/** The time results are computed as of: max(now, latest event), frozen once the meeting ended. */
export function asOf(model: MeetingModel, now: number): number {
  if (model.status === 'ended' && model.clock !== null) return model.clock;
  return model.clock === null ? now : Math.max(now, model.clock);
}

function presence(model: MeetingModel): PresenceView {
  const present: string[] = [];
  model.roster.forEach((member, i) => {
    if (member.present) present.push(String(i));
  });
  return {
    present,
    peak: model.peak,
    total: model.roster.length,
    idOf: (ref) => model.roster[Number(ref)]?.id ?? ref,
  };
}

/** Attendance of one member as of T: intervals (an open one ends at T) and total ms. */
export function attendanceOf(
  member: Member,
  T: number,
): { intervals: Array<{ from: number; to: number }>; presentMs: number } {
  const intervals = member.intervals.map(([from, to]) => ({ from, to: to ?? Math.max(from, T) }));
  let presentMs = member.presentMs;
  const last = member.intervals[member.intervals.length - 1];
  if (member.present && last) presentMs += Math.max(0, T - last[0]);
  return { intervals, presentMs };
}

// ---------- analytics flush ----------

function flushData(model: MeetingModel, T: number): Omit<AnalyticsData, 'timeline'> {
  const a = model.analytics;
  const p = presence(model);
  return {
    chatRate: chatRate(a, T),
    reactions: reactions(a, T, REACTION_EMOJI),
    talkTime: talkTime(a, T, p),
    balance: balance(a, T, p),
    keywords: topKeywords(a),
    attendance: attendance(p),
    engagement: engagement(a, T, p),
  };
}

/**
 * The `kind:'analytics'` envelopes for metrics whose value changed since the last flush, computed
 * as of `now` (see `asOf`). Call once per meeting after each batch and from a periodic tick so
 * windows keep moving in quiet meetings. Timeline envelopes carry only the minutes changed since
 * the last flush (plus all-time totals); the snapshot carries every kept minute. Never throws.
 */
export function flushAnalytics(model: MeetingModel, now: number): DraftEnvelope[] {
  upgrade(model);
  try {
    const T = asOf(model, now);
    const at = new Date(now).toISOString();
    const out: DraftEnvelope[] = [];
    const data = flushData(model, T);
    const hashes = model.emitted.hashes;
    for (const type of ANALYTICS_TYPES) {
      if (type === 'timeline') {
        const dirty = model.emitted.dirtyMinutes;
        const value = timeline(model.analytics, T, dirty);
        const h = hash53(JSON.stringify(value.totals));
        if (dirty.length === 0 && hashes.timeline === h) continue;
        hashes.timeline = h;
        model.emitted.dirtyMinutes = [];
        out.push({ kind: 'analytics', type, data: value, at });
        continue;
      }
      const value = data[type];
      const h = hash53(JSON.stringify(value));
      if (hashes[type] === h) continue;
      hashes[type] = h;
      out.push({ kind: 'analytics', type, data: value, at });
    }
    return out;
  } catch {
    return [];
  }
}

// ---------- snapshot and rebuild ----------

/** The speaker as of T: one whose talk interval passed its bound is not speaking any more. */
function speakerAsOf(model: MeetingModel, T: number): SpeakerData {
  const speaker = model.speaker;
  const ref = speaker ? refOf(model, speaker.participantId) : null;
  if (!speaker || (ref !== null && spellExpired(model.analytics, ref, T)))
    return { participantId: null, since: null };
  return { ...speaker };
}

/** Full current state and analytics as of `now` (for GET /api/meetings/{id} and the summary). */
export function snapshot(model: MeetingModel, now: number): MeetingSnapshot {
  upgrade(model);
  const T = asOf(model, now);
  return {
    status: model.status,
    startedAt: model.startedAt,
    endedAt: model.endedAt,
    asOf: T,
    eventCount: model.eventCount,
    counts: { ...model.counts },
    rejected: { total: model.rejected.total, byReason: { ...model.rejected.byReason } },
    roster: model.roster.map((member) => ({
      ...memberView(member),
      presentMs: attendanceOf(member, T).presentMs,
    })),
    hands: handsView(model),
    polls: model.polls.map(pollView),
    speaker: speakerAsOf(model, T),
    analytics: allMetrics(model.analytics, T, presence(model), REACTION_EMOJI),
  };
}

/**
 * Recomputes a meeting from its stored events alone. `events` must be in feed (commit) order; when
 * every event carries `_lsn` they are sorted by it. Documents that are not events are skipped, as
 * the processor does. The resulting model's `snapshot(model, now)` equals that of the live model
 * that folded the same events, whatever `now`s the live fold used and whenever it flushed. The
 * returned envelopes are what a fresh fold produces (event envelopes, then one analytics flush):
 * their values match, but their `at`/`trace` reflect `now`, not the original processing.
 */
export function rebuildFromEvents(
  events: readonly EventDocument[],
  now: number,
): { model: MeetingModel; envelopes: DraftEnvelope[] } {
  const model = initialModel();
  const envelopes: DraftEnvelope[] = [];
  let ordered = events.filter(isEventDocument);
  if (ordered.every((e) => typeof e._lsn === 'number')) {
    ordered = ordered
      .map((e, i) => ({ e, i }))
      .sort((x, y) => (x.e._lsn as number) - (y.e._lsn as number) || x.i - y.i)
      .map((x) => x.e);
  }
  for (const event of ordered) for (const env of applyEvent(model, event, now)) envelopes.push(env);
  for (const env of flushAnalytics(model, now)) envelopes.push(env);
  return { model, envelopes };
}

function isEventDocument(doc: EventDocument): boolean {
  return (
    !!doc &&
    doc.type === 'event' &&
    typeof doc.id === 'string' &&
    typeof doc.eventType === 'string' &&
    typeof doc.receivedAt === 'number' &&
    !!doc.data &&
    typeof doc.data === 'object'
  );
}
