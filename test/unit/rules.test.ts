/**
 * The one set of meeting rules (lib/domain/rules.ts) that ingest and the reducer both apply.
 */
import {
  MAX_OPEN_POLLS,
  MAX_POLLS,
  MAX_POLL_OPTIONS,
  mayClosePoll,
  mayLowerHand,
  mayManagePolls,
  mayOpenPoll,
  mayVote,
  participantChangeApplies,
  pollCapacity,
  pollOptionCount,
} from '../../lib/domain/rules';
import { MAX_POLL_OPTIONS as VALIDATED_MAX } from '../../lib/domain/validation';
import { eventRefused } from '../../lib/meetings/problems';

describe('meeting rules', () => {
  test('anyone may lower their own hand, only the host may lower another', () => {
    expect(mayLowerHand('a', 'attendee', 'a')).toBe('ok');
    expect(mayLowerHand('a', 'attendee', 'b')).toBe('lower-others-hand');
    expect(mayLowerHand('a', 'presenter', 'b')).toBe('lower-others-hand');
    expect(mayLowerHand('h', 'host', 'b')).toBe('ok');
  });

  test('an attendee lowering another hand is refused by ingest as a 403 role problem', () => {
    const problem = eventRefused(mayLowerHand('a', 'attendee', 'b') as 'lower-others-hand', {
      where: '',
      data: 'data',
    });
    expect(problem.status).toBe(403);
    expect(problem.message).toContain("lower another participant's hand");
  });

  test('hosts and presenters manage polls, attendees do not', () => {
    expect(mayManagePolls('host')).toBe('ok');
    expect(mayManagePolls('presenter')).toBe('ok');
    expect(mayManagePolls('attendee')).toBe('manage-polls');
    expect(mayManagePolls(null)).toBe('manage-polls');
  });

  test('the option range is one constant, shared with validation', () => {
    expect(VALIDATED_MAX).toBe(MAX_POLL_OPTIONS);
    expect(pollOptionCount(1)).toBe('poll-option-count');
    expect(pollOptionCount(2)).toBe('ok');
    expect(pollOptionCount(MAX_POLL_OPTIONS)).toBe('ok');
    expect(pollOptionCount(MAX_POLL_OPTIONS + 1)).toBe('poll-option-count');
  });

  test('poll caps count all polls and open polls', () => {
    expect(pollCapacity({ total: MAX_POLLS - 1, open: 0 }, 1, 1)).toBe('ok');
    expect(pollCapacity({ total: MAX_POLLS, open: 0 }, 1, 1)).toBe('too-many-polls');
    expect(pollCapacity({ total: 10, open: MAX_OPEN_POLLS }, 1, 1)).toBe('too-many-open-polls');
    expect(pollCapacity({ total: 10, open: MAX_OPEN_POLLS }, 1, 0)).toBe('ok');
  });

  test('votes need a known, open poll and an option it has', () => {
    const open = { status: 'open' as const, optionCount: 3 };
    expect(mayVote(undefined, 0)).toBe('unknown-poll');
    expect(mayVote({ ...open, status: 'closed' }, 0)).toBe('poll-closed');
    expect(mayVote(open, 3)).toBe('invalid-option');
    expect(mayVote(open, -1)).toBe('invalid-option');
    expect(mayVote(open, 2)).toBe('ok');
  });

  test('opening an existing poll is a duplicate unless it is the same open retried', () => {
    const poll = { status: 'open' as const, optionCount: 2 };
    expect(mayOpenPoll(undefined)).toBe('ok');
    expect(mayOpenPoll(poll)).toBe('duplicate-poll');
    expect(mayOpenPoll(poll, true)).toBe('ok');
    expect(mayClosePoll(undefined)).toBe('unknown-poll');
    expect(mayClosePoll({ ...poll, status: 'closed' })).toBe('ok');
  });

  test('participant changes apply only while they still change something', () => {
    const present = { role: 'attendee' as const };
    const left = { role: 'attendee' as const, leftAt: '2026-01-01T00:00:00Z' };
    const removed = { role: 'attendee' as const, removedAt: '2026-01-01T00:00:00Z' };
    expect(participantChangeApplies(present, { kind: 'leave', at: 'x' })).toBe('ok');
    expect(participantChangeApplies(left, { kind: 'leave', at: 'x' })).toBe('already-left');
    expect(participantChangeApplies(left, { kind: 'rejoin' })).toBe('ok');
    expect(participantChangeApplies(present, { kind: 'rejoin' })).toBe('not-left');
    expect(participantChangeApplies(removed, { kind: 'rejoin' })).toBe('removed');
    expect(participantChangeApplies(removed, { kind: 'remove', at: 'x' })).toBe('removed');
    expect(participantChangeApplies(present, { kind: 'role', role: 'attendee' })).toBe('same-role');
    expect(participantChangeApplies(present, { kind: 'role', role: 'presenter' })).toBe('ok');
  });
});
