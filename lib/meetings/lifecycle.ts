/**
 * A meeting's life: create, start, end, going live on its own (the first event at or after
 * `startsAt`), the join code, and the view of a meeting.
 *
 * Lifecycle: scheduled → live → ended. A meeting created without `startsAt` (or with one in the
 * past) is live at once; a scheduled one goes live when its host calls `POST …/start` or on the
 * first event posted at or after `startsAt`. Participants may join a scheduled meeting (lobby) but
 * may post events only while it is live. Nothing is accepted once it has ended (409).
 */
import { hopLatency, type HopSketches } from '../processing/latency';
import { snapshot, type MeetingModel } from '../domain/meeting';
import {
  joinedEvent,
  participantDocument,
  publicMeeting,
  publicParticipant,
  systemEvent,
  type StoredMeeting,
  type StoredParticipant,
} from '../documents';
import { badRequest, type FieldError } from '../errors';
import { joinCode, randomId, sha256 } from '../ids';
import { IdConflictError } from '../ports';
import { MEETING_DOC_ID, SCHEMA_VERSION } from '../protocol';
import { requireHost, type Caller, type MeetingAccess, type MeetingServiceOptions } from './access';
import { meetingEnded, meetingNotStarted, noSuchMeeting } from './problems';

/** Far ahead enough for any real schedule; further is a typo. */
const MAX_SCHEDULE_AHEAD_MS = 366 * 24 * 3600 * 1000;

export class MeetingLifecycle {
  constructor(
    private readonly opts: MeetingServiceOptions,
    private readonly access: MeetingAccess,
  ) {}

  async create(input: { title: string; startsAt?: string; endsAt?: string }) {
    const now = this.opts.clock();
    const errors: FieldError[] = [];
    if (input.startsAt && Date.parse(input.startsAt) > now + MAX_SCHEDULE_AHEAD_MS)
      errors.push({ path: 'startsAt', message: 'must be within a year from now' });
    if (input.endsAt && Date.parse(input.endsAt) <= now)
      errors.push({ path: 'endsAt', message: 'must be in the future' });
    if (errors.length) throw badRequest('The meeting is not valid.', errors);

    const meetingId = randomId();
    const hostId = randomId();
    const code = joinCode();
    const scheduled = input.startsAt !== undefined && Date.parse(input.startsAt) > now;
    const at = new Date(now).toISOString();
    const meeting: StoredMeeting = {
      id: MEETING_DOC_ID,
      type: 'meeting',
      schemaVersion: SCHEMA_VERSION,
      meetingId,
      title: input.title,
      status: scheduled ? 'scheduled' : 'live',
      ...(input.startsAt ? { startsAt: new Date(input.startsAt).toISOString() } : {}),
      ...(input.endsAt ? { endsAt: new Date(input.endsAt).toISOString() } : {}),
      ...(scheduled ? {} : { startedAt: at }),
      createdAt: at,
      joinCodeHash: sha256(code),
      hostParticipantId: hostId,
      participantCount: 1,
    };
    const host = participantDocument(meetingId, hostId, 'Host', 'host', now);
    const events = [joinedEvent(host, now)];
    if (!scheduled) events.unshift(systemEvent(meetingId, 'sys-started', 'meeting.started', {}, null, now));
    await this.opts.store.createMeeting(meeting, host, events);
    this.access.rememberMeeting(meeting);
    this.access.rememberParticipant(host);
    return {
      meeting: publicMeeting(meeting),
      joinCode: code,
      host: publicParticipant(host),
      ...this.access.issue(host, now),
    };
  }

  /** Host only: scheduled → live (idempotent while live). */
  async start(caller: Caller) {
    requireHost(caller, 'start the meeting');
    const meeting = await this.access.freshMeeting(caller.meeting.meetingId);
    if (meeting.status === 'ended') throw meetingEnded();
    return { meeting: publicMeeting(await this.goLive(meeting, caller.participant)) };
  }

  /** Host only: → ended (idempotent). The processor then freezes state and the summary is final. */
  async end(caller: Caller) {
    requireHost(caller, 'end the meeting');
    const now = this.opts.clock();
    const meetingId = caller.meeting.meetingId;
    let meeting = await this.access.freshMeeting(meetingId);
    if (meeting.status !== 'ended') {
      meeting =
        (await this.opts.store.transitionMeeting(meetingId, ['scheduled', 'live'], 'ended', {
          endedAt: new Date(now).toISOString(),
          endedBy: caller.participant.participantId,
        })) ?? (await this.access.freshMeeting(meetingId));
      this.access.rememberMeeting(meeting);
    }
    // The status is written first so ingest stops at once; the event is (re)written idempotently.
    await this.opts.store.insertEvents(meetingId, [
      systemEvent(
        meetingId,
        'sys-ended',
        'meeting.ended',
        { endedBy: meeting.endedBy ?? caller.participant.participantId },
        caller.participant,
        now,
      ),
    ]);
    return { meeting: publicMeeting(meeting) };
  }

  /**
   * Host only: a new join code; the old one stops working at once on this instance and within the
   * cache's 1 s elsewhere. Participants who already joined keep their tokens.
   */
  async rotateJoinCode(caller: Caller) {
    requireHost(caller, 'change the join code');
    const meetingId = caller.meeting.meetingId;
    if ((await this.access.freshMeeting(meetingId)).status === 'ended') throw meetingEnded();
    const code = joinCode();
    const meeting = await this.opts.store.setJoinCodeHash(meetingId, sha256(code));
    if (!meeting) throw noSuchMeeting();
    this.access.rememberMeeting(meeting);
    return { joinCode: code };
  }

  /** The meeting if it accepts events now: live, or scheduled and due (then it goes live). */
  async acceptingMeeting(caller: Caller): Promise<StoredMeeting> {
    const meeting = caller.meeting;
    if (meeting.status === 'ended') throw meetingEnded();
    if (meeting.status === 'scheduled') {
      const due = meeting.startsAt !== undefined && Date.parse(meeting.startsAt) <= this.opts.clock();
      if (!due) throw meetingNotStarted();
      return this.goLive(await this.access.freshMeeting(meeting.meetingId), null);
    }
    return meeting;
  }

  /** The meeting, the caller, and the processor's live state as of now (null until first processed). */
  view(
    caller: Caller,
    stored: { state: { seq: number; model: MeetingModel; hops?: HopSketches } } | undefined,
  ) {
    const meetingId = caller.meeting.meetingId;
    return {
      meeting: publicMeeting(caller.meeting),
      you: publicParticipant(caller.participant),
      seq: stored?.state.seq ?? 0,
      state: stored ? snapshot(stored.state.model, this.opts.clock()) : null,
      // Hop latency: processed and pushed from the meeting's state, committed from this instance.
      latency: hopLatency(stored?.state.hops, this.opts.meter?.meeting(meetingId)),
    };
  }

  private async goLive(meeting: StoredMeeting, by: StoredParticipant | null): Promise<StoredMeeting> {
    if (meeting.status === 'ended') throw meetingEnded();
    const now = this.opts.clock();
    // A live meeting has its meeting.started stored already (by create, or by the transition
    // below): writing it again with another actor would be an id conflict, not a no-op.
    if (meeting.status === 'live') return meeting;
    // Event first: events accepted once the status says live then follow it in the feed. A retry
    // after a crash between the two writes may find it stored by someone else (auto-start on the
    // first event vs the host): the one stored stands.
    try {
      await this.opts.store.insertEvents(meeting.meetingId, [
        systemEvent(meeting.meetingId, 'sys-started', 'meeting.started', {}, by, now),
      ]);
    } catch (err) {
      if (!(err instanceof IdConflictError)) throw err;
    }
    const live =
      (await this.opts.store.transitionMeeting(meeting.meetingId, ['scheduled'], 'live', {
        startedAt: new Date(now).toISOString(),
      })) ?? (await this.access.freshMeeting(meeting.meetingId));
    this.access.rememberMeeting(live);
    if (live.status === 'ended') throw meetingEnded();
    return live;
  }
}
