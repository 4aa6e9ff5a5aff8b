/**
 * The streaming analytics of one meeting (SPEC §6), built from the generic operators. The state
 * is plain JSON and bounded: every window is a fixed ring or capped list; per-participant maps are
 * keyed by a participant "ref" (the reducer uses the roster index as a short string), so they are
 * bounded by the roster cap and stay small however long participant ids are.
 *
 * Window definitions (all over event time = server receive time; T = the "as of" time):
 * - chat rate: chat messages in the last 60 one-second buckets ending with T's bucket.
 * - reactions: per emoji, in the last 10 one-second buckets.
 * - talk time: per participant, cumulative (closed intervals + the open one up to T) and recent =
 *   overlap of the talk intervals with the last 30 ten-second buckets (5 min).
 * - engagement: weighted activity in the last 10 thirty-second buckets (5 min) + talk in that span.
 * - keywords: the last 50 FINAL caption segments (interim segments are hypotheses that the final
 *   one repeats, so counting them would multiply-count words).
 * - timeline: event counts per type in 1-minute tumbling windows, last 180 minutes + all-time totals.
 * Each time window accepts an out-of-order event as long as the window can still contain it (its
 * tolerance equals its span): for live metrics that are re-emitted on change this is strictly more
 * accurate than a shorter tolerance at the same memory, and what the ring drops no window at or
 * after the watermark could include — which is what makes rebuilt analytics equal live ones.
 */
import * as counting from './countWindow';
import { inc, isSafeKey, num, own, type NumberMap } from './records';
import * as sliding from './slidingWindow';
import type {
  AnalyticsData,
  AttendanceData,
  BalanceData,
  ChatRateData,
  EngagementData,
  EngagementEntry,
  KeywordsData,
  ReactionsData,
  TalkTimeData,
  TalkTimeEntry,
  TimelineData,
  TimelineMinute,
} from '../protocol';
import { gini } from './stats';
import { keywords as wordsOf } from './text';
import * as tumbling from './tumblingWindow';

export const CHAT_WINDOW = { bucketMs: 1000, buckets: 60 } as const;
export const REACTION_WINDOW = { bucketMs: 1000, buckets: 10 } as const;
export const TALK_WINDOW = { bucketMs: 10_000, buckets: 30 } as const;
export const ENGAGEMENT_WINDOW = { bucketMs: 30_000, buckets: 10 } as const;
export const KEYWORD_SEGMENTS = 50;
export const TOP_KEYWORDS = 10;
export const TIMELINE = { minuteMs: 60_000, keepMinutes: 180 } as const;
/** Per-participant lists in analytics outputs are capped (largest first) to bound envelope size. */
export const MAX_LISTED = 200;
/**
 * Longest a talk interval counts without a fresh `speaking.start` (the web app and typed-client
 * docs re-send it every minute while someone talks). A client that dies mid-sentence sends no
 * stop, and presence only notices a dead connection, not a participant who never had one: without
 * a bound such a speaker would accrue talk time until the meeting ends.
 */
export const MAX_TALK_SPELL_MS = 10 * 60_000;

/** Where an open talk interval stops counting as of T: at T, or at its bound. */
export function spellEnd(since: number, T: number): number {
  return Math.min(T, since + MAX_TALK_SPELL_MS);
}

/** Safety cap on participants whose talk time is tracked (the reducer only lets roster members talk). */
export const MAX_TALKERS = 2_000;

/**
 * Engagement score per participant over the last 5 minutes = Σ weight × count of the participant's
 * accepted actions in the window + talkPerSecond × seconds talked in the window. Rationale: a chat
 * message is deliberate effort (3); a reaction is cheap (1); raising a hand or voting is an explicit
 * act of participation (2); 30 s of talking is worth one chat message (0.1 per second). A hand
 * raise counts only when it actually raised the hand (not a repeat); every accepted vote counts,
 * changes included.
 */
export const ENGAGEMENT_WEIGHTS = Object.freeze({
  chatMessage: 3,
  reaction: 1,
  handRaise: 2,
  pollVote: 2,
  talkPerSecond: 0.1,
});

export interface TalkState {
  /** Closed talk per participant, ms. */
  totals: NumberMap;
  /** Start of the open interval per participant currently speaking. */
  open: NumberMap;
  /** Closed talk split over 10-second buckets, for "last 5 minutes". */
  recent: sliding.SlidingWindow;
}

export interface MeetingAnalytics {
  chat: sliding.SlidingWindow;
  reactions: sliding.SlidingWindow;
  talk: TalkState;
  engagement: sliding.SlidingWindow;
  keywords: { window: counting.CountWindow<string[]>; counts: NumberMap };
  timeline: tumbling.TumblingWindow;
  /** All-time reactions per emoji (for the summary). */
  reactionTotals: NumberMap;
}

const spanOf = (w: { bucketMs: number; buckets: number }) => w.bucketMs * w.buckets;

export function createAnalytics(): MeetingAnalytics {
  return {
    chat: sliding.create({ ...CHAT_WINDOW, toleranceMs: spanOf(CHAT_WINDOW) }),
    reactions: sliding.create({ ...REACTION_WINDOW, toleranceMs: spanOf(REACTION_WINDOW) }),
    talk: {
      totals: {},
      open: {},
      recent: sliding.create({ ...TALK_WINDOW, toleranceMs: spanOf(TALK_WINDOW) }),
    },
    engagement: sliding.create({ ...ENGAGEMENT_WINDOW, toleranceMs: spanOf(ENGAGEMENT_WINDOW) }),
    keywords: { window: counting.create<string[]>(KEYWORD_SEGMENTS), counts: {} },
    timeline: tumbling.create({
      sizeMs: TIMELINE.minuteMs,
      keep: TIMELINE.keepMinutes,
      // Totals are all-time, so nothing is ever too late for them.
      toleranceMs: Number.MAX_SAFE_INTEGER,
    }),
    reactionTotals: {},
  };
}

// ---------- recording ----------

export function recordChat(a: MeetingAnalytics, participantId: string | null, t: number): void {
  sliding.add(a.chat, 'messages', t);
  if (participantId !== null) sliding.add(a.engagement, participantId, t, ENGAGEMENT_WEIGHTS.chatMessage);
}

export function recordReaction(
  a: MeetingAnalytics,
  participantId: string | null,
  emoji: string,
  t: number,
): void {
  sliding.add(a.reactions, emoji, t);
  inc(a.reactionTotals, emoji, 1);
  if (participantId !== null) sliding.add(a.engagement, participantId, t, ENGAGEMENT_WEIGHTS.reaction);
}

export function recordHandRaise(a: MeetingAnalytics, participantId: string, t: number): void {
  sliding.add(a.engagement, participantId, t, ENGAGEMENT_WEIGHTS.handRaise);
}

export function recordVote(a: MeetingAnalytics, participantId: string, t: number): void {
  sliding.add(a.engagement, participantId, t, ENGAGEMENT_WEIGHTS.pollVote);
}

/** Adds a final caption segment's words to the keyword window. */
export function recordCaption(a: MeetingAnalytics, text: string): void {
  const words = wordsOf(text);
  for (const w of words) inc(a.keywords.counts, w, 1);
  const evicted = counting.push(a.keywords.window, words);
  if (evicted) for (const w of evicted) inc(a.keywords.counts, w, -1);
}

/** Counts an accepted event in the per-minute timeline; returns the minute number it landed in. */
export function recordActivity(a: MeetingAnalytics, type: string, t: number): number | null {
  return tumbling.add(a.timeline, type, t);
}

/**
 * Opens a talk interval. A start while already talking continues the talk (the total is the same)
 * but renews the interval's bound (MAX_TALK_SPELL_MS); one whose bound has passed is closed there
 * and a new one starts.
 */
export function talkStart(a: MeetingAnalytics, participantId: string, t: number): boolean {
  const talk = a.talk;
  if (!isSafeKey(participantId)) return false;
  if (own(talk.open, participantId) !== undefined) {
    talkStop(a, participantId, t);
    talk.open[participantId] = t;
    return false;
  }
  if (own(talk.totals, participantId) === undefined) {
    if (Object.keys(talk.totals).length >= MAX_TALKERS) return false;
    talk.totals[participantId] = 0;
  }
  talk.open[participantId] = t;
  return true;
}

/** Closes the open talk interval at t (a stop before its start counts as zero). */
export function talkStop(a: MeetingAnalytics, participantId: string, t: number): boolean {
  const talk = a.talk;
  const since = own(talk.open, participantId);
  if (since === undefined) return false;
  delete talk.open[participantId];
  const end = spellEnd(since, t);
  if (end > since) {
    talk.totals[participantId] = num(talk.totals, participantId) + (end - since);
    sliding.addSpan(talk.recent, participantId, since, end);
  }
  return true;
}

/** Closes every talk interval whose bound has passed by t; returns who stopped. */
export function talkExpire(a: MeetingAnalytics, t: number): string[] {
  const expired: string[] = [];
  for (const id of Object.keys(a.talk.open)) {
    const since = a.talk.open[id] as number;
    if (spellEnd(since, t) < t) {
      talkStop(a, id, t);
      expired.push(id);
    }
  }
  return expired;
}

/** True when the participant's open talk interval has passed its bound by T. */
export function spellExpired(a: MeetingAnalytics, participantId: string, T: number): boolean {
  const since = own(a.talk.open, participantId);
  return since !== undefined && spellEnd(since, T) < T;
}

export function talkStopAll(a: MeetingAnalytics, t: number): void {
  for (const id of Object.keys(a.talk.open)) talkStop(a, id, t);
}

// ---------- outputs (the `data` of analytics envelopes) ----------

// The output types are the protocol's (lib/protocol/envelopes.ts); re-exported for the server code.
export {
  ANALYTICS_TYPES,
  type AnalyticsData,
  type AnalyticsType,
  type AttendanceData,
  type BalanceData,
  type ChatRateData,
  type EngagementData,
  type EngagementEntry,
  type KeywordsData,
  type ReactionsData,
  type TalkTimeData,
  type TalkTimeEntry,
  type TimelineData,
  type TimelineMinute,
} from '../protocol';

/** What the metrics need from the live state. */
export interface PresenceView {
  /** Refs of the participants present now. */
  present: string[];
  peak: number;
  /** Distinct participants who ever joined. */
  total: number;
  /** The participant id behind a ref. */
  idOf: (ref: string) => string;
}

export function chatRate(a: MeetingAnalytics, T: number): ChatRateData {
  return { windowMs: spanOf(CHAT_WINDOW), perMinute: sliding.total(a.chat, T) };
}

export function reactions(a: MeetingAnalytics, T: number, order: readonly string[]): ReactionsData {
  const sums = sliding.sums(a.reactions, T);
  const rank = (e: string) => {
    const i = order.indexOf(e);
    return i < 0 ? order.length : i;
  };
  const emoji = Object.keys(sums)
    .map((e) => ({ emoji: e, count: sums[e] as number }))
    .sort((x, y) => y.count - x.count || rank(x.emoji) - rank(y.emoji) || cmp(x.emoji, y.emoji));
  let total = 0;
  for (const e of emoji) total += e.count;
  return { windowMs: spanOf(REACTION_WINDOW), total, emoji };
}

/** Cumulative talk per participant as of T (open intervals counted up to T). */
export function talkTotals(a: MeetingAnalytics, T: number): NumberMap {
  const out: NumberMap = { ...a.talk.totals };
  for (const id of Object.keys(a.talk.open)) {
    const since = a.talk.open[id] as number;
    const end = spellEnd(since, T);
    if (end > since) out[id] = num(out, id) + (end - since);
  }
  return out;
}

/** Talk per participant within [from, T] (from defaults to the 5-minute window's start). */
export function talkRecent(a: MeetingAnalytics, T: number, from?: number): NumberMap {
  const start = from ?? sliding.windowStart(a.talk.recent, T);
  const out = sliding.sums(a.talk.recent, T, start);
  for (const id of Object.keys(a.talk.open)) {
    const opened = a.talk.open[id] as number;
    const since = Math.max(opened, start);
    const end = spellEnd(opened, T);
    if (end > since) out[id] = num(out, id) + (end - since);
  }
  return out;
}

export function talkTime(a: MeetingAnalytics, T: number, presence: PresenceView): TalkTimeData {
  const totals = talkTotals(a, T);
  const recent = talkRecent(a, T);
  const ids = new Set(presence.present);
  for (const id of Object.keys(totals)) if ((totals[id] as number) > 0) ids.add(id);
  let totalMs = 0;
  let recentMs = 0;
  for (const id of ids) {
    totalMs += num(totals, id);
    recentMs += num(recent, id);
  }
  const entries: TalkTimeEntry[] = [...ids].map((id) => {
    const t = num(totals, id);
    const r = num(recent, id);
    return {
      participantId: presence.idOf(id),
      totalMs: t,
      recentMs: r,
      share: totalMs > 0 ? t / totalMs : 0,
      recentShare: recentMs > 0 ? r / recentMs : 0,
    };
  });
  entries.sort(
    (x, y) => y.totalMs - x.totalMs || y.recentMs - x.recentMs || cmp(x.participantId, y.participantId),
  );
  return {
    windowMs: spanOf(TALK_WINDOW),
    totalMs,
    recentMs,
    participants: entries.slice(0, MAX_LISTED),
    participantCount: entries.length,
  };
}

export function balance(a: MeetingAnalytics, T: number, presence: PresenceView): BalanceData {
  const totals = talkTotals(a, T);
  const recent = talkRecent(a, T);
  return {
    gini: gini(presence.present.map((id) => num(totals, id))),
    recentGini: gini(presence.present.map((id) => num(recent, id))),
    present: presence.present.length,
  };
}

export function topKeywords(a: MeetingAnalytics): KeywordsData {
  const counts = a.keywords.counts;
  const keywords = Object.keys(counts)
    .map((word) => ({ word, count: counts[word] as number }))
    .sort((x, y) => y.count - x.count || cmp(x.word, y.word))
    .slice(0, TOP_KEYWORDS);
  return { segments: a.keywords.window.items.length, keywords };
}

export function attendance(presence: PresenceView): AttendanceData {
  return { present: presence.present.length, peak: presence.peak, total: presence.total };
}

export function timelineMinutes(a: MeetingAnalytics, T: number, only?: readonly number[]): TimelineMinute[] {
  const buckets = tumbling.windowsAt(a.timeline, T);
  return buckets
    .filter((b) => !only || only.includes(b.w))
    .map((b) => ({ start: b.w * TIMELINE.minuteMs, counts: { ...b.counts } }));
}

export function timeline(a: MeetingAnalytics, T: number, only?: readonly number[]): TimelineData {
  return {
    minuteMs: TIMELINE.minuteMs,
    minutes: timelineMinutes(a, T, only),
    totals: { ...a.timeline.totals },
  };
}

export function engagement(a: MeetingAnalytics, T: number, presence: PresenceView): EngagementData {
  const from = sliding.windowStart(a.engagement, T);
  const scores = sliding.sums(a.engagement, T);
  const talk = talkRecent(a, T, from);
  const ids = new Set(presence.present);
  for (const id of Object.keys(scores)) ids.add(id);
  for (const id of Object.keys(talk)) if ((talk[id] as number) > 0) ids.add(id);
  const entries: EngagementEntry[] = [...ids].map((id) => ({
    participantId: presence.idOf(id),
    score: num(scores, id) + (num(talk, id) * ENGAGEMENT_WEIGHTS.talkPerSecond) / 1000,
  }));
  entries.sort((x, y) => y.score - x.score || cmp(x.participantId, y.participantId));
  return {
    windowMs: spanOf(ENGAGEMENT_WINDOW),
    participants: entries.slice(0, MAX_LISTED),
    participantCount: entries.length,
  };
}

/** Every metric as of T (the snapshot form: the full timeline). */
export function allMetrics(
  a: MeetingAnalytics,
  T: number,
  presence: PresenceView,
  emojiOrder: readonly string[],
): AnalyticsData {
  return {
    chatRate: chatRate(a, T),
    reactions: reactions(a, T, emojiOrder),
    talkTime: talkTime(a, T, presence),
    balance: balance(a, T, presence),
    keywords: topKeywords(a),
    attendance: attendance(presence),
    timeline: timeline(a, T),
    engagement: engagement(a, T, presence),
  };
}

/** Code-unit order: deterministic everywhere, unlike localeCompare. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
