/**
 * The one set of meeting rules: who may do what, and the caps. Pure functions over plain values,
 * shared by the write side (lib/meetings/ingest.ts, which answers a refusal with a ProblemError
 * before anything is stored) and the reducer (lib/domain/meeting.ts, which records it as a
 * Rejection when an event reaches it anyway, e.g. one accepted on another instance within the
 * cache window). Keeping one copy means the two can never disagree about what is allowed.
 *
 * Each rule answers 'ok' or a Refusal naming why not. This module is a leaf (type imports only):
 * validation.ts and meeting.ts both import it, and each other.
 */
import type { ParticipantDocument, Role } from '../protocol';

/** A meeting holds at most this many polls in all, and this many open at once. */
export const MAX_POLLS = 200;
export const MAX_OPEN_POLLS = 5;
/** The options of one poll. */
export const MIN_POLL_OPTIONS = 2;
export const MAX_POLL_OPTIONS = 10;

export type Refusal =
  /** Only the host may lower someone else's hand. */
  | 'lower-others-hand'
  /** Only the host or a presenter may open, close or otherwise manage polls. */
  | 'manage-polls'
  | 'poll-option-count'
  | 'duplicate-poll'
  | 'unknown-poll'
  | 'poll-closed'
  | 'invalid-option'
  | 'too-many-polls'
  | 'too-many-open-polls'
  // Participant changes that no longer apply (a retry, or another writer got there first).
  | 'already-left'
  | 'not-left'
  | 'removed'
  | 'same-role';

export type Verdict = 'ok' | Refusal;

/** May `role`, acting as `actor`, lower `target`'s hand? Everyone may lower their own. */
export function mayLowerHand(actor: string, role: Role | null, target: string): Verdict {
  return target === actor || role === 'host' ? 'ok' : 'lower-others-hand';
}

/** May `role` open or close polls? */
export function mayManagePolls(role: Role | null): Verdict {
  return role === 'host' || role === 'presenter' ? 'ok' : 'manage-polls';
}

/** A poll must offer between MIN_POLL_OPTIONS and MAX_POLL_OPTIONS options. */
export function pollOptionCount(count: number): Verdict {
  return count >= MIN_POLL_OPTIONS && count <= MAX_POLL_OPTIONS ? 'ok' : 'poll-option-count';
}

/**
 * Can `adding` more polls, `openingMore` of them open, fit next to the `total` / `open` polls
 * the meeting holds?
 */
export function pollCapacity(
  counts: { total: number; open: number },
  adding: number,
  openingMore: number,
): Verdict {
  if (counts.total + adding > MAX_POLLS) return 'too-many-polls';
  if (counts.open + openingMore > MAX_OPEN_POLLS) return 'too-many-open-polls';
  return 'ok';
}

/** What the rules need to know of a poll. */
export interface PollFacts {
  status: 'open' | 'closed';
  optionCount: number;
}

/** Opening a poll under an id the meeting already has (the same open retried is not "another"). */
export function mayOpenPoll(existing: PollFacts | undefined, sameOpen = false): Verdict {
  return existing && !sameOpen ? 'duplicate-poll' : 'ok';
}

/** A vote for option `option` of `poll` (undefined: no such poll). */
export function mayVote(poll: PollFacts | undefined, option: number): Verdict {
  if (!poll) return 'unknown-poll';
  if (poll.status !== 'open') return 'poll-closed';
  if (!Number.isInteger(option) || option < 0 || option >= poll.optionCount) return 'invalid-option';
  return 'ok';
}

/** Closing `poll` (undefined: no such poll). Closing a closed poll is allowed and changes nothing. */
export function mayClosePoll(poll: PollFacts | undefined): Verdict {
  return poll ? 'ok' : 'unknown-poll';
}

export type ParticipantChange =
  | { kind: 'leave'; at: string }
  | { kind: 'rejoin' }
  | { kind: 'remove'; at: string }
  | { kind: 'role'; role: Role };

/**
 * Does `change` still apply to the participant as stored? Stores check this against the document
 * they read (under its etag) and write nothing when it does not.
 */
export function participantChangeApplies(
  p: Pick<ParticipantDocument, 'leftAt' | 'removedAt' | 'role'>,
  change: ParticipantChange,
): Verdict {
  switch (change.kind) {
    case 'leave':
      if (p.removedAt) return 'removed';
      return p.leftAt ? 'already-left' : 'ok';
    case 'rejoin':
      if (p.removedAt) return 'removed';
      return p.leftAt ? 'ok' : 'not-left';
    case 'remove':
      return p.removedAt ? 'removed' : 'ok';
    case 'role':
      if (p.removedAt) return 'removed';
      return p.role === change.role ? 'same-role' : 'ok';
  }
}
