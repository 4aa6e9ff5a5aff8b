/**
 * The end-of-meeting (or so-far) report, built purely from the meeting model: duration, attendance
 * intervals, talk-time distribution, chat and reaction totals, poll results, keywords and the
 * per-minute timeline. Everything is computed "as of" the same time as the live analytics (frozen
 * at the end for an ended meeting), so the summary agrees with the last snapshot.
 */
import { talkTotals } from '../analytics/meetingMetrics';
import { gini } from '../analytics/stats';
import {
  CLIENT_TYPES,
  asOf,
  attendanceOf,
  pollView,
  snapshot,
  type MeetingModel,
  type MeetingStatus,
  type PollView,
  type TimelineData,
} from '../domain/meeting';
import type { HopLatency } from '../processing/latency';
import type { Role } from '../protocol';

export const SUMMARY_VERSION = 1;

export interface SummaryMeta {
  meetingId: string;
  title: string;
  /** Hop latency of the meeting's events (lib/processing/latency.ts), when known. */
  latency?: HopLatency;
}

export type SummaryParticipant = {
  participantId: string;
  displayName: string;
  role: Role;
  present: boolean;
  /** Attendance intervals, epoch ms; an open one ends at `asOf`. */
  intervals: Array<{ from: number; to: number }>;
  presentMs: number;
};

export type SummaryTalker = { participantId: string; displayName: string; totalMs: number; share: number };

export type MeetingSummary = {
  schemaVersion: number;
  meetingId: string;
  title: string;
  /** When the summary was built (the caller's `now`). */
  generatedAt: number;
  /** The time everything is computed as of. */
  asOf: number;
  status: MeetingStatus;
  /** True once the meeting has ended: the summary will not change any more. */
  final: boolean;
  startedAt: number | null;
  endedAt: number | null;
  /** From the start (or the first join) to the end (or `asOf`). */
  durationMs: number;
  attendance: { peak: number; total: number; present: number; participants: SummaryParticipant[] };
  talkTime: {
    totalMs: number;
    /** Gini of talk time over participants present at `asOf` (0 = equal), as the live balance. */
    gini: number;
    /** Gini of talk time over everyone who attended. */
    giniAllParticipants: number;
    /** Everyone who attended or talked, most talk first; share of the total talk time. */
    participants: SummaryTalker[];
  };
  chat: { messages: number };
  reactions: { total: number; byEmoji: Array<{ emoji: string; count: number }> };
  polls: PollView[];
  keywords: Array<{ word: string; count: number }>;
  timeline: TimelineData;
  /** accepted: participants' events; system: the service's own (joins, leaves, start, end). */
  events: { accepted: number; system: number; rejected: number };
  /**
   * Milliseconds from accepted to each hop, p50/p95/p99 (null for a hop not measured). Measured on
   * wall clocks, so unlike everything else here it is not recomputed by a rebuild.
   */
  latency: HopLatency | null;
};

export function buildSummary(model: MeetingModel, now: number, meta: SummaryMeta): MeetingSummary {
  const snap = snapshot(model, now);
  const T = asOf(model, now);
  const participants: SummaryParticipant[] = model.roster.map((member) => {
    const { intervals, presentMs } = attendanceOf(member, T);
    return {
      participantId: member.id,
      displayName: member.displayName,
      role: member.role,
      present: member.present,
      intervals,
      presentMs,
    };
  });
  const firstJoin = participants.length
    ? Math.min(...participants.map((p) => p.intervals[0]?.from ?? T))
    : null;
  const start = model.startedAt ?? firstJoin ?? T;
  const end = model.endedAt ?? T;

  // Talk totals per roster ref, mapped to participants (all of them, not capped like live lists).
  const totals = talkTotals(model.analytics, T);
  const talkers = model.roster.map((member, i) => ({
    participantId: member.id,
    displayName: member.displayName,
    totalMs: totals[String(i)] ?? 0,
    present: member.present,
  }));
  const totalMs = talkers.reduce((s, p) => s + p.totalMs, 0);
  const talkParticipants: SummaryTalker[] = talkers
    .map((p) => ({
      participantId: p.participantId,
      displayName: p.displayName,
      totalMs: p.totalMs,
      share: totalMs > 0 ? p.totalMs / totalMs : 0,
    }))
    .sort((a, b) => b.totalMs - a.totalMs || (a.participantId < b.participantId ? -1 : 1));

  const reactionTotals = model.analytics.reactionTotals;
  const byEmoji = Object.keys(reactionTotals)
    .map((emoji) => ({ emoji, count: reactionTotals[emoji] as number }))
    .sort((a, b) => b.count - a.count || (a.emoji < b.emoji ? -1 : 1));

  return {
    schemaVersion: SUMMARY_VERSION,
    meetingId: meta.meetingId,
    title: meta.title,
    generatedAt: now,
    asOf: T,
    status: model.status,
    final: model.status === 'ended',
    startedAt: model.startedAt,
    endedAt: model.endedAt,
    durationMs: Math.max(0, end - start),
    attendance: { peak: model.peak, total: model.roster.length, present: model.presentCount, participants },
    talkTime: {
      totalMs,
      gini: snap.analytics.balance.gini,
      giniAllParticipants: gini(talkers.map((p) => p.totalMs)),
      participants: talkParticipants,
    },
    chat: { messages: model.counts['chat.message'] ?? 0 },
    reactions: { total: byEmoji.reduce((s, e) => s + e.count, 0), byEmoji },
    polls: model.polls.map(pollView),
    keywords: snap.analytics.keywords.keywords,
    timeline: snap.analytics.timeline,
    events: { ...countEvents(model), rejected: model.rejected.total },
    latency: meta.latency ?? null,
  };
}

function countEvents(model: MeetingModel): { accepted: number; system: number } {
  let accepted = 0;
  for (const [type, n] of Object.entries(model.counts)) if (CLIENT_TYPES.has(type)) accepted += n;
  return { accepted, system: model.eventCount - accepted };
}
