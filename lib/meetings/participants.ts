/**
 * The people of a meeting: join with the code, rejoin, leave, removal and role changes by the
 * host, and the paged list (with its continuation token codec).
 */
import { timingSafeEqual } from 'node:crypto';
import { MAX_PARTICIPANTS } from '../domain/meeting';
import { MAX_PAGE } from '../domain/validation';
import {
  joinedEvent,
  participantDocument,
  publicParticipant,
  systemEvent,
  type StoredMeeting,
} from '../documents';
import { badRequest, conflict, forbidden, tooManyRequests } from '../errors';
import { randomId, sha256 } from '../ids';
import { requireHost, type Caller, type MeetingAccess, type MeetingServiceOptions } from './access';
import { closingConnectionsFailed, meetingEnded, noSuchMeeting, noSuchParticipant } from './problems';

export class MeetingParticipants {
  constructor(
    private readonly opts: MeetingServiceOptions,
    private readonly access: MeetingAccess,
  ) {}

  /**
   * Anyone with the join code joins as an attendee. `clientAddress` (when the platform tells it)
   * limits wrong codes and unknown meetings per address. Only failures are charged: many honest
   * people share one address (an office NAT, a gateway, the Functions host's own proxy), and
   * charging every attempt refused them. From the bucket check to the charge the code runs
   * without awaiting, so concurrent guesses cannot slip past an empty bucket: a guesser gets
   * exactly `burst` answers, then 429 for every code, right or wrong.
   */
  async join(meetingId: string, input: { displayName: string; joinCode: string }, clientAddress?: string) {
    const meeting = await this.access.meeting(meetingId);
    const limiter = this.access.limiter;
    const failed = (err: Error) => {
      if (clientAddress !== undefined) limiter.take('joinFailures', clientAddress, 1);
      return err;
    };
    if (clientAddress !== undefined) {
      const budget = limiter.check('joinFailures', clientAddress, 1);
      if (!budget.ok)
        throw tooManyRequests(
          `Too many wrong join codes from your address; retry in ${budget.retryAfterSeconds} s.`,
          budget.retryAfterSeconds,
        );
    }
    if (!meeting) throw failed(noSuchMeeting());
    const given = Buffer.from(sha256(input.joinCode.trim().toUpperCase()));
    if (!timingSafeEqual(given, Buffer.from(meeting.joinCodeHash)))
      throw failed(forbidden('The join code is wrong.', 'wrong-join-code'));
    if (meeting.status === 'ended') throw meetingEnded();
    this.access.throttle(
      'joins',
      meetingId,
      1,
      (s) => `Many people are joining this meeting; retry in ${s} s.`,
    );
    const admitted = await this.opts.store.admitParticipant(meetingId, MAX_PARTICIPANTS);
    if (admitted === 'missing') throw noSuchMeeting();
    if (admitted === 'ended') throw meetingEnded();
    if (admitted === 'full')
      throw conflict(`The meeting is full (${MAX_PARTICIPANTS} participants).`, 'meeting-full');
    const now = this.opts.clock();
    const participant = participantDocument(meetingId, randomId(), input.displayName, 'attendee', now);
    await this.opts.store.createParticipant(participant);
    await this.opts.store.insertEvents(meetingId, [joinedEvent(participant, now)]);
    this.access.rememberParticipant(participant);
    return { participant: publicParticipant(participant), ...this.access.issue(participant, now) };
  }

  /** A participant who left comes back under the same identity and role (no-op if present). */
  async rejoin(caller: Caller) {
    const meeting = await this.openMeeting(caller);
    let participant = caller.participant;
    const now = this.opts.clock();
    if (participant.leftAt) {
      participant =
        (await this.opts.store.updateParticipant(meeting.meetingId, participant.participantId, {
          kind: 'rejoin',
        })) ?? (await this.access.freshParticipant(caller));
      await this.opts.store.insertEvents(meeting.meetingId, [joinedEvent(participant, now)]);
      this.access.rememberParticipant(participant);
    }
    return { participant: publicParticipant(participant), ...this.access.issue(participant, now) };
  }

  async leave(caller: Caller) {
    const meeting = await this.openMeeting(caller);
    const now = this.opts.clock();
    let participant = caller.participant;
    if (!participant.leftAt) {
      participant =
        (await this.opts.store.updateParticipant(meeting.meetingId, participant.participantId, {
          kind: 'leave',
          at: new Date(now).toISOString(),
        })) ?? (await this.access.freshParticipant(caller));
      this.access.rememberParticipant(participant);
    }
    // Always (re)written, idempotently: a retry after a failure between the two writes completes it.
    await this.opts.store.insertEvents(meeting.meetingId, [
      systemEvent(
        meeting.meetingId,
        `sys-left-${participant.participantId}-${participant.sessions}`,
        'participant.left',
        { participantId: participant.participantId, reason: 'left' },
        participant,
        now,
      ),
    ]);
    return { participant: publicParticipant(participant) };
  }

  /** Host only: revokes the participant's tokens, closes their Web PubSub connections, emits participant.left. */
  async remove(caller: Caller, participantId: string): Promise<void> {
    requireHost(caller, 'remove participants');
    const meetingId = caller.meeting.meetingId;
    if (participantId === caller.participant.participantId)
      throw conflict('The host cannot remove themselves; end the meeting instead.', 'cannot-remove-host');
    const target = await this.opts.store.getParticipant(meetingId, participantId);
    if (!target) throw noSuchParticipant();
    const now = this.opts.clock();
    if (!target.removedAt) {
      await this.opts.store.updateParticipant(meetingId, participantId, {
        kind: 'remove',
        at: new Date(now).toISOString(),
      });
    }
    this.access.rememberRemoved(meetingId, participantId);
    await this.opts.store.insertEvents(meetingId, [
      systemEvent(
        meetingId,
        `sys-removed-${participantId}`,
        'participant.left',
        { participantId, reason: 'removed' },
        caller.participant,
        now,
      ),
    ]);
    try {
      await this.opts.access.closeParticipant(participantId, 'Removed from the meeting by the host.');
    } catch {
      // Stored and idempotent: the host's retry closes the connections.
      throw closingConnectionsFailed();
    }
  }

  /** Host only: promote an attendee to presenter or back. Takes effect on the participant's next request. */
  async setRole(caller: Caller, participantId: string, role: 'presenter' | 'attendee') {
    requireHost(caller, 'change roles');
    const meetingId = caller.meeting.meetingId;
    const target = await this.opts.store.getParticipant(meetingId, participantId);
    if (!target) throw noSuchParticipant();
    if (target.removedAt) throw conflict('The participant was removed.', 'participant-removed');
    if (target.role === 'host') throw conflict("The host's role cannot be changed.", 'host-role');
    let updated = target;
    if (target.role !== role) {
      updated =
        (await this.opts.store.updateParticipant(meetingId, participantId, { kind: 'role', role })) ??
        (await this.opts.store.getParticipant(meetingId, participantId)) ??
        target;
      // The reducer updates a present member's role from a repeated participant.joined; one who
      // left gets the new role with their rejoin event.
      if (!updated.leftAt && !updated.removedAt) {
        const now = this.opts.clock();
        await this.opts.store.insertEvents(meetingId, [
          systemEvent(
            meetingId,
            `sys-role-${participantId}-${updated.roleVersion}`,
            'participant.joined',
            { participantId, displayName: updated.displayName, role: updated.role, change: 'role' },
            caller.participant,
            now,
          ),
        ]);
      }
      this.access.rememberParticipant(updated);
    }
    return { participant: publicParticipant(updated) };
  }

  async listParticipants(caller: Caller, query: { limit?: number; continuation?: string }) {
    const limit = query.limit ?? 50;
    const after = query.continuation === undefined ? '' : decodeContinuation(query.continuation);
    const rows = await this.opts.store.listParticipants(
      caller.meeting.meetingId,
      after,
      Math.min(limit, MAX_PAGE) + 1,
    );
    const page = rows.slice(0, limit);
    const more = rows.length > limit;
    return {
      items: page.map(publicParticipant),
      continuation: more ? encodeContinuation(page[page.length - 1]!.id) : null,
    };
  }

  /** The caller's meeting read fresh, unless it has ended (nobody comes or goes then). */
  private async openMeeting(caller: Caller): Promise<StoredMeeting> {
    const meeting = await this.access.freshMeeting(caller.meeting.meetingId);
    if (meeting.status === 'ended') throw meetingEnded();
    return meeting;
  }
}

/** Continuation tokens are opaque to clients: base64url JSON naming the last document returned. */
export function encodeContinuation(afterDocId: string): string {
  return Buffer.from(JSON.stringify({ after: afterDocId })).toString('base64url');
}

export function decodeContinuation(token: string): string {
  try {
    const value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown };
    if (
      typeof value.after === 'string' &&
      value.after.startsWith('participant.') &&
      value.after.length <= 100
    )
      return value.after;
  } catch {
    // fall through
  }
  throw badRequest('The query is not valid.', [
    { path: 'continuation', message: 'must be a continuation token from a previous page' },
  ]);
}
