/**
 * The write-side use cases behind the HTTP API: create, join/rejoin, start, post events, leave,
 * end, remove a participant, change a role, list participants, view the meeting, negotiate a Web
 * PubSub connection. Functions call these after parsing; nothing here depends on the Functions
 * runtime, so tests can drive it directly.
 *
 * Lifecycle: scheduled → live → ended. A meeting created without `startsAt` (or with one in the
 * past) is live at once; a scheduled one goes live when its host calls `POST …/start` or on the
 * first event posted at or after `startsAt`. Participants may join a scheduled meeting (lobby) but
 * may post events only while it is live. Nothing is accepted once it has ended (409).
 *
 * Caches (per process; see docs/api.md "Caches and staleness"): the meeting, participant and poll
 * documents are read through a 1 s cache, updated at once by this instance's own writes. So another
 * instance may accept events for at most CACHE_TTL_MS after a meeting ended, a participant was
 * removed or a poll closed; the processor drops such events anyway (it applies events in feed
 * order and refuses anything after `meeting.ended`, from non-present participants, or on closed polls).
 * Removed participants are also remembered for the token lifetime, so their tokens never need
 * another read.
 */
import { timingSafeEqual } from 'node:crypto';
import {
  IdConflictError,
  pollDocId,
  sameEvent,
  type MeetingStore,
  type PollDocument,
  type StoredMeeting,
  type StoredParticipant,
} from './adapters/cosmos';
import type { ClientAccess } from './adapters/webPubSub';
import { TtlCache } from './cache';
import { MAX_OPEN_POLLS, MAX_PARTICIPANTS, MAX_POLLS, snapshot, type MeetingModel } from './domain/meeting';
import { MAX_PAGE, type ClientEvent } from './domain/validation';
import {
  ProblemError,
  badRequest,
  conflict,
  forbidden,
  notFound,
  problemType,
  tooManyRequests,
  unauthorized,
  type FieldError,
} from './errors';
import { joinCode, randomId, serverEventId, sha256 } from './ids';
import {
  MEETING_DOC_ID,
  SCHEMA_VERSION,
  participantDocId,
  type EventDocument,
  type EventType,
  type Role,
} from './protocol';
import type { RateLimits } from './config';
import { RateLimiter } from './rateLimit';
import {
  signParticipantToken,
  signStreamTicket,
  verifyParticipantToken,
  type ParticipantClaims,
  type TokenPurpose,
} from './tokens';

export interface ParticipantConnections {
  clientAccess(meetingId: string, participantId: string, expiresAtSec: number): Promise<ClientAccess>;
  /** Closes every Web PubSub connection of the participant. */
  closeParticipant(participantId: string, reason: string): Promise<void>;
}

export interface MeetingServiceOptions {
  store: MeetingStore;
  access: ParticipantConnections;
  tokenSecret: string;
  tokenTtlMinutes: number;
  clock: () => number;
  rateLimits: RateLimits;
  cacheTtlMs?: number;
}

export interface IssuedToken {
  token: string;
  expiresAt: string;
}

/** An authenticated participant of a meeting, as of the (cached) stored documents. */
export interface Caller {
  claims: ParticipantClaims;
  meeting: StoredMeeting;
  participant: StoredParticipant;
  /** The participant document's role: a host may have changed it since the token was issued. */
  role: Role;
}

export interface AcceptedEvent {
  id: string;
  receivedAt: string;
}

/** How long cached meeting / participant / poll documents are trusted. */
export const CACHE_TTL_MS = 1000;
/** Meetings with at most this many participants cache them all from one query (participant()). */
const ROSTER_MAX = 50;
/** Far ahead enough for any real schedule; further is a typo. */
const MAX_SCHEDULE_AHEAD_MS = 366 * 24 * 3600 * 1000;

export class MeetingService {
  private readonly meetings: TtlCache<StoredMeeting>;
  private readonly participants: TtlCache<StoredParticipant>;
  private readonly polls: TtlCache<PollDocument>;
  /** `meetingId/participantId` of removed participants, kept as long as any of their tokens may live. */
  private readonly removed: TtlCache<true>;
  private readonly limiter: RateLimiter;
  /** Participant queries in flight, per meeting (participant()). */
  private readonly rosterLoads = new Map<string, Promise<void>>();

  constructor(private readonly opts: MeetingServiceOptions) {
    const ttl = opts.cacheTtlMs ?? CACHE_TTL_MS;
    this.meetings = new TtlCache(ttl, 10_000, opts.clock);
    this.participants = new TtlCache(ttl, 50_000, opts.clock);
    this.polls = new TtlCache(ttl, 10_000, opts.clock);
    this.removed = new TtlCache(opts.tokenTtlMinutes * 60_000, 50_000, opts.clock);
    this.limiter = new RateLimiter(opts.rateLimits, opts.clock);
  }

  // ---------- auth ----------

  /** Verifies a bearer token for `meetingId`: 401 when missing/invalid/expired, 403 for another meeting. */
  authenticate(
    token: string | undefined,
    meetingId: string,
    purpose: TokenPurpose = 'participant',
  ): ParticipantClaims {
    if (!token)
      throw unauthorized(
        purpose === 'stream'
          ? 'A stream ticket (?ticket=, from POST …/events/stream-ticket) or Authorization: Bearer <token> is required.'
          : 'A participant token is required (Authorization: Bearer <token>).',
      );
    const check = verifyParticipantToken(token, this.opts.tokenSecret, this.opts.clock(), purpose);
    if (!check.ok)
      throw unauthorized(
        check.reason === 'expired' ? 'The token has expired.' : 'The token is not valid.',
        check.reason === 'expired' ? 'token-expired' : 'token-invalid',
      );
    if (check.claims.meetingId !== meetingId)
      throw forbidden('The token is for another meeting.', 'wrong-meeting');
    return check.claims;
  }

  /**
   * authenticate, plus: the meeting exists and the participant was not removed (401: a removed
   * participant's token is revoked). Charges one token of the participant's `requests` bucket
   * unless `charge` is false (the events route charges per event instead).
   */
  async authorize(
    token: string | undefined,
    meetingId: string,
    charge = true,
    purpose: TokenPurpose = 'participant',
  ): Promise<Caller> {
    const claims = this.authenticate(token, meetingId, purpose);
    const key = `${meetingId}/${claims.participantId}`;
    if (this.removed.get(key)) throw revoked();
    if (charge) this.limit(claims, 'requests', 1);
    const [meeting, participant] = await Promise.all([
      this.meeting(meetingId),
      this.participant(meetingId, claims.participantId),
    ]);
    if (!meeting) throw notFound('No such meeting.');
    if (!participant) throw unauthorized('The token names no participant of this meeting.', 'token-invalid');
    if (participant.removedAt) {
      this.removed.set(key, true);
      throw revoked();
    }
    return { claims, meeting, participant, role: participant.role };
  }

  /** A short-lived ticket that opens one event stream (see lib/tokens.ts for why). */
  streamTicket(caller: Caller): { ticket: string; expiresAt: string } {
    const { ticket, expiresAt } = signStreamTicket(caller.claims, this.opts.tokenSecret, this.opts.clock());
    return { ticket, expiresAt: new Date(expiresAt * 1000).toISOString() };
  }

  /**
   * May this participant open a Web PubSub connection to the meeting's group? (The hub's blocking
   * `connect` event.) A client URL stays valid until it expires, so without this a removed
   * participant could reconnect with a URL negotiated before the removal. Read fresh, not from
   * the cache: connects are rare, and a removal on another instance must count at once.
   */
  async mayConnect(meetingId: string, participantId: string): Promise<boolean> {
    const key = `${meetingId}/${participantId}`;
    if (this.removed.get(key)) return false;
    const participant = await this.opts.store.getParticipant(meetingId, participantId);
    if (!participant) return false;
    if (participant.removedAt) {
      this.removed.set(key, true);
      return false;
    }
    this.participants.set(key, participant);
    return true;
  }

  /** Spends `cost` tokens of the participant's bucket, or throws 429 with Retry-After. */
  limit(who: { meetingId: string; participantId: string }, kind: 'events' | 'requests', cost: number): void {
    this.throttle(kind, `${who.meetingId}/${who.participantId}`, cost, (s) =>
      kind === 'events'
        ? `Too many events from this participant; retry in ${s} s.`
        : `Too many requests from this participant; retry in ${s} s.`,
    );
  }

  private throttle(
    kind: keyof RateLimits,
    key: string,
    cost: number,
    detail: (retryAfterSeconds: number) => string,
  ): void {
    if (cost <= 0) return;
    const taken = this.limiter.take(kind, key, cost);
    if (!taken.ok) throw tooManyRequests(detail(taken.retryAfterSeconds), taken.retryAfterSeconds);
  }

  // ---------- meetings ----------

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
    const host = this.newParticipant(meetingId, hostId, 'Host', 'host', now);
    const events = [this.joinedEvent(host, now)];
    if (!scheduled)
      events.unshift(this.systemEvent(meetingId, 'sys-started', 'meeting.started', {}, null, now));
    await this.opts.store.createMeeting(meeting, host, events);
    this.meetings.set(meetingId, meeting);
    this.participants.set(`${meetingId}/${hostId}`, host);
    return {
      meeting: publicMeeting(meeting),
      joinCode: code,
      host: publicParticipant(host),
      ...this.issue(host, now),
    };
  }

  /**
   * Anyone with the join code joins as an attendee. `clientAddress` (when the platform tells it)
   * limits wrong codes and unknown meetings per address. Only failures are charged: many honest
   * people share one address (an office NAT, a gateway, the Functions host's own proxy), and
   * charging every attempt refused them. From the bucket check to the charge the code runs
   * without awaiting, so concurrent guesses cannot slip past an empty bucket: a guesser gets
   * exactly `burst` answers, then 429 for every code, right or wrong.
   */
  async join(meetingId: string, input: { displayName: string; joinCode: string }, clientAddress?: string) {
    const meeting = await this.meeting(meetingId);
    const failed = (err: Error) => {
      if (clientAddress !== undefined) this.limiter.take('joinFailures', clientAddress, 1);
      return err;
    };
    if (clientAddress !== undefined) {
      const budget = this.limiter.check('joinFailures', clientAddress, 1);
      if (!budget.ok)
        throw tooManyRequests(
          `Too many wrong join codes from your address; retry in ${budget.retryAfterSeconds} s.`,
          budget.retryAfterSeconds,
        );
    }
    if (!meeting) throw failed(notFound('No such meeting.'));
    const given = Buffer.from(sha256(input.joinCode.trim().toUpperCase()));
    if (!timingSafeEqual(given, Buffer.from(meeting.joinCodeHash)))
      throw failed(forbidden('The join code is wrong.', 'wrong-join-code'));
    if (meeting.status === 'ended') throw meetingEnded();
    this.throttle('joins', meetingId, 1, (s) => `Many people are joining this meeting; retry in ${s} s.`);
    const admitted = await this.opts.store.admitParticipant(meetingId, MAX_PARTICIPANTS);
    if (admitted === 'missing') throw notFound('No such meeting.');
    if (admitted === 'ended') throw meetingEnded();
    if (admitted === 'full')
      throw conflict(`The meeting is full (${MAX_PARTICIPANTS} participants).`, 'meeting-full');
    const now = this.opts.clock();
    const participant = this.newParticipant(meetingId, randomId(), input.displayName, 'attendee', now);
    await this.opts.store.createParticipant(participant);
    await this.opts.store.insertEvents(meetingId, [this.joinedEvent(participant, now)]);
    this.participants.set(`${meetingId}/${participant.participantId}`, participant);
    return { participant: publicParticipant(participant), ...this.issue(participant, now) };
  }

  /**
   * Host only: a new join code; the old one stops working at once on this instance and within the
   * cache's 1 s elsewhere. Participants who already joined keep their tokens.
   */
  async rotateJoinCode(caller: Caller) {
    requireHost(caller, 'change the join code');
    const meetingId = caller.meeting.meetingId;
    if ((await this.current(caller)).status === 'ended') throw meetingEnded();
    const code = joinCode();
    const meeting = await this.opts.store.setJoinCodeHash(meetingId, sha256(code));
    if (!meeting) throw notFound('No such meeting.');
    this.meetings.set(meetingId, meeting);
    return { joinCode: code };
  }

  /** A participant who left comes back under the same identity and role (no-op if present). */
  async rejoin(caller: Caller) {
    const meeting = await this.current(caller);
    if (meeting.status === 'ended') throw meetingEnded();
    let participant = caller.participant;
    const now = this.opts.clock();
    if (participant.leftAt) {
      participant =
        (await this.opts.store.updateParticipant(meeting.meetingId, participant.participantId, {
          kind: 'rejoin',
        })) ?? (await this.freshParticipant(caller));
      await this.opts.store.insertEvents(meeting.meetingId, [this.joinedEvent(participant, now)]);
      this.participants.set(`${meeting.meetingId}/${participant.participantId}`, participant);
    }
    return { participant: publicParticipant(participant), ...this.issue(participant, now) };
  }

  async leave(caller: Caller) {
    const meeting = await this.current(caller);
    if (meeting.status === 'ended') throw meetingEnded();
    const now = this.opts.clock();
    let participant = caller.participant;
    if (!participant.leftAt) {
      participant =
        (await this.opts.store.updateParticipant(meeting.meetingId, participant.participantId, {
          kind: 'leave',
          at: new Date(now).toISOString(),
        })) ?? (await this.freshParticipant(caller));
      this.participants.set(`${meeting.meetingId}/${participant.participantId}`, participant);
    }
    // Always (re)written, idempotently: a retry after a failure between the two writes completes it.
    await this.opts.store.insertEvents(meeting.meetingId, [
      this.systemEvent(
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

  /** Host only: scheduled → live (idempotent while live). */
  async start(caller: Caller) {
    requireHost(caller, 'start the meeting');
    const meeting = await this.current(caller);
    if (meeting.status === 'ended') throw meetingEnded();
    return { meeting: publicMeeting(await this.goLive(meeting, caller.participant)) };
  }

  /** Host only: → ended (idempotent). The processor then freezes state and the summary is final. */
  async end(caller: Caller) {
    requireHost(caller, 'end the meeting');
    const now = this.opts.clock();
    const meetingId = caller.meeting.meetingId;
    let meeting = await this.current(caller);
    if (meeting.status !== 'ended') {
      meeting =
        (await this.opts.store.transitionMeeting(meetingId, ['scheduled', 'live'], 'ended', {
          endedAt: new Date(now).toISOString(),
          endedBy: caller.participant.participantId,
        })) ?? (await this.freshMeeting(meetingId));
      this.meetings.set(meetingId, meeting);
    }
    // The status is written first so ingest stops at once; the event is (re)written idempotently.
    await this.opts.store.insertEvents(meetingId, [
      this.systemEvent(
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

  /** Host only: revokes the participant's tokens, closes their Web PubSub connections, emits participant.left. */
  async remove(caller: Caller, participantId: string): Promise<void> {
    requireHost(caller, 'remove participants');
    const meetingId = caller.meeting.meetingId;
    if (participantId === caller.participant.participantId)
      throw conflict('The host cannot remove themselves; end the meeting instead.', 'cannot-remove-host');
    const target = await this.opts.store.getParticipant(meetingId, participantId);
    if (!target) throw notFound('No such participant in this meeting.');
    const now = this.opts.clock();
    if (!target.removedAt) {
      await this.opts.store.updateParticipant(meetingId, participantId, {
        kind: 'remove',
        at: new Date(now).toISOString(),
      });
    }
    const key = `${meetingId}/${participantId}`;
    this.removed.set(key, true);
    this.participants.delete(key);
    await this.opts.store.insertEvents(meetingId, [
      this.systemEvent(
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
      throw new ProblemError(
        503,
        'Service Unavailable',
        'The participant was removed, but closing their connections failed; retry.',
        {
          type: problemType('unavailable'),
          headers: { 'retry-after': '1' },
        },
      );
    }
  }

  /** Host only: promote an attendee to presenter or back. Takes effect on the participant's next request. */
  async setRole(caller: Caller, participantId: string, role: 'presenter' | 'attendee') {
    requireHost(caller, 'change roles');
    const meetingId = caller.meeting.meetingId;
    const target = await this.opts.store.getParticipant(meetingId, participantId);
    if (!target) throw notFound('No such participant in this meeting.');
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
          this.systemEvent(
            meetingId,
            `sys-role-${participantId}-${updated.roleVersion}`,
            'participant.joined',
            { participantId, displayName: updated.displayName, role: updated.role, change: 'role' },
            caller.participant,
            now,
          ),
        ]);
      }
      this.participants.set(`${meetingId}/${participantId}`, updated);
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

  /** The meeting, the caller, and the processor's live state as of now (null until first processed). */
  view(caller: Caller, stored: { state: { seq: number; model: MeetingModel } } | undefined) {
    return {
      meeting: publicMeeting(caller.meeting),
      you: publicParticipant(caller.participant),
      seq: stored?.state.seq ?? 0,
      state: stored ? snapshot(stored.state.model, this.opts.clock()) : null,
    };
  }

  async negotiate(caller: Caller): Promise<ClientAccess & { expiresAt: string }> {
    const { claims } = caller;
    const access = await this.opts.access.clientAccess(
      claims.meetingId,
      claims.participantId,
      claims.expiresAt,
    );
    return { ...access, expiresAt: new Date(claims.expiresAt * 1000).toISOString() };
  }

  // ---------- events ----------

  /**
   * Stores the events atomically (all or none), after every rule the processor would apply and
   * that ingest can check: meeting live, participant present, roles, polls. Events whose id is
   * already stored with the same content are answered as before and not checked again (replays).
   */
  async postEvents(
    caller: Caller,
    events: ClientEvent[],
    batch: boolean,
  ): Promise<{ accepted: AcceptedEvent[]; replayed: boolean }> {
    const meetingId = caller.meeting.meetingId;
    const receivedAt = this.opts.clock();
    const docs: EventDocument[] = events.map((e) => ({
      id: e.id ?? serverEventId(),
      type: 'event',
      schemaVersion: SCHEMA_VERSION,
      meetingId,
      eventType: e.type,
      data: e.data as Record<string, unknown>,
      participantId: caller.participant.participantId,
      role: caller.role,
      receivedAt,
    }));
    const clientIds = events.flatMap((e) => (e.id === undefined ? [] : [e.id]));
    // Create first (no idempotency read) when nothing in the post touches polls and the post may
    // be accepted as new: a retry then costs a failed create plus the read, a new post (nearly
    // all of them) saves a Cosmos DB round trip. Polls keep read-first: applyPolls records votes
    // and opens before the insert, and its undo would be wrong for a replay.
    if (clientIds.length > 0 && !docs.some((d) => d.eventType.startsWith('poll.'))) {
      const answer = await this.postCreateFirst(caller, docs, batch);
      if (answer) return answer;
    }
    const existing = await this.opts.store.findEvents(meetingId, clientIds);
    const reused = docs
      .filter((d) => existing.has(d.id) && !sameEvent(existing.get(d.id)!, d))
      .map((d) => d.id);
    if (reused.length) throw idsReused(reused);

    const fresh: Array<{ doc: EventDocument; index: number }> = [];
    docs.forEach((doc, index) => {
      if (!existing.has(doc.id)) fresh.push({ doc, index });
    });
    if (fresh.length > 0) {
      const meeting = await this.acceptingMeeting(caller);
      if (caller.participant.leftAt)
        throw conflict(
          'You have left this meeting; POST …/join with your token to come back.',
          'participant-left',
        );
      this.checkRoles(caller, fresh, batch);
      const undo = await this.applyPolls(caller, fresh, batch);
      try {
        await this.opts.store.insertEvents(
          meeting.meetingId,
          fresh.map((f) => f.doc),
          new Map(),
        );
      } catch (err) {
        await undo();
        if (err instanceof IdConflictError) throw idsReused(err.ids);
        throw err;
      }
    }
    const accepted = docs.map((d) => ({
      id: d.id,
      receivedAt: new Date(existing.get(d.id)?.receivedAt ?? d.receivedAt).toISOString(),
    }));
    return { accepted, replayed: fresh.length === 0 };
  }

  /**
   * postEvents without the read: stores the events as new, and only on a conflict reads which
   * are already stored (same content: the duplicate's answer; other content: id-conflict).
   * Undefined when the post would be refused as new (meeting not live, participant left, role):
   * the caller's read-first path then answers a replay of stored events as before, or refuses.
   */
  private async postCreateFirst(
    caller: Caller,
    docs: EventDocument[],
    batch: boolean,
  ): Promise<{ accepted: AcceptedEvent[]; replayed: boolean } | undefined> {
    // Only the plain case: anything else (a scheduled meeting going live, left, ended) goes the
    // read-first way, which answers replays of stored events before refusing new ones.
    const meeting = caller.meeting;
    if (meeting.status !== 'live' || caller.participant.leftAt) return undefined;
    try {
      this.checkRoles(
        caller,
        docs.map((doc, index) => ({ doc, index })),
        batch,
      );
    } catch {
      return undefined;
    }
    const outcomes = await this.opts.store
      .insertEvents(meeting.meetingId, docs, new Map())
      .catch((err: unknown) => {
        if (err instanceof IdConflictError) throw idsReused(err.ids);
        throw err;
      });
    return {
      accepted: outcomes.map((o) => ({ id: o.id, receivedAt: new Date(o.receivedAt).toISOString() })),
      replayed: outcomes.every((o) => o.status === 'duplicate'),
    };
  }

  private checkRoles(
    caller: Caller,
    fresh: Array<{ doc: EventDocument; index: number }>,
    batch: boolean,
  ): void {
    for (const { doc, index } of fresh) {
      const where = batch ? ` (events[${index}])` : '';
      if (doc.eventType === 'hand.lower') {
        const target = doc.data.participantId;
        if (target !== undefined && target !== caller.participant.participantId && caller.role !== 'host')
          throw forbidden(`Only the host may lower another participant's hand${where}.`, 'role');
      }
      if ((doc.eventType === 'poll.open' || doc.eventType === 'poll.close') && caller.role === 'attendee')
        throw forbidden(`Only the host or a presenter may open or close polls${where}.`, 'role');
    }
  }

  /**
   * Checks the poll events of a post in order against the stored polls (and the earlier events of
   * the same post), then records opens and closes. Returns the compensation to run if the events
   * themselves cannot be stored.
   */
  private async applyPolls(
    caller: Caller,
    fresh: Array<{ doc: EventDocument; index: number }>,
    batch: boolean,
  ): Promise<() => Promise<void>> {
    const pollEvents = fresh.filter((f) => f.doc.eventType.startsWith('poll.'));
    if (pollEvents.length === 0) return async () => undefined;
    const meetingId = caller.meeting.meetingId;
    const ids = [...new Set(pollEvents.map((f) => f.doc.data.pollId as string))];
    const known = await this.loadPolls(meetingId, ids);
    const view = new Map<string, { status: 'open' | 'closed'; optionCount: number; openEventId: string }>();
    for (const [id, p] of known) view.set(id, p);
    let newPolls = 0;
    let openDelta = 0;
    const writes: Array<{ kind: 'open' | 'close'; doc: EventDocument }> = [];
    for (const { doc, index } of pollEvents) {
      const pollId = doc.data.pollId as string;
      const at = batch ? `events[${index}].data` : 'data';
      const poll = view.get(pollId);
      if (doc.eventType === 'poll.open') {
        if (poll && poll.openEventId !== doc.id)
          throw conflict(`A poll with the id "${pollId}" already exists in this meeting.`, 'duplicate-poll');
        if (!poll) {
          newPolls++;
          openDelta++;
        }
        view.set(pollId, {
          status: 'open',
          optionCount: (doc.data.options as string[]).length,
          openEventId: doc.id,
        });
        writes.push({ kind: 'open', doc });
      } else if (!poll) {
        throw notFound(`No poll with the id "${pollId}" in this meeting.`, 'unknown-poll');
      } else if (doc.eventType === 'poll.vote') {
        if (poll.status !== 'open') throw conflict(`The poll "${pollId}" is closed.`, 'poll-closed');
        if ((doc.data.option as number) >= poll.optionCount)
          throw badRequest('The event is not valid.', [
            {
              path: `${at}.option`,
              message: `must be less than ${poll.optionCount} (the poll's option count)`,
            },
          ]);
      } else if (poll.status === 'open') {
        view.set(pollId, { ...poll, status: 'closed' });
        openDelta--;
        writes.push({ kind: 'close', doc });
      }
    }
    if (newPolls > 0) {
      const counts = await this.opts.store.countPolls(meetingId);
      if (counts.total + newPolls > MAX_POLLS)
        throw conflict(`A meeting can hold at most ${MAX_POLLS} polls.`, 'poll-limit');
      if (counts.open + openDelta > MAX_OPEN_POLLS)
        throw conflict(`At most ${MAX_OPEN_POLLS} polls can be open at once; close one first.`, 'poll-limit');
    }

    const undos: Array<() => Promise<void>> = [];
    const undo = async () => {
      for (const u of undos.reverse()) await u().catch(() => undefined);
    };
    try {
      for (const { kind, doc } of writes) {
        const pollId = doc.data.pollId as string;
        const key = `${meetingId}/${pollId}`;
        if (kind === 'open') {
          const poll: PollDocument = {
            id: pollDocId(pollId),
            type: 'poll',
            schemaVersion: SCHEMA_VERSION,
            meetingId,
            pollId,
            status: 'open',
            optionCount: (doc.data.options as string[]).length,
            openedBy: caller.participant.participantId,
            openedAt: new Date(doc.receivedAt).toISOString(),
            openEventId: doc.id,
          };
          const result = await this.opts.store.createPoll(poll);
          if (!result.created && result.poll.openEventId !== doc.id)
            throw conflict(
              `A poll with the id "${pollId}" already exists in this meeting.`,
              'duplicate-poll',
            );
          if (result.created) undos.push(() => this.opts.store.undoPoll(meetingId, pollId, 'delete'));
          this.polls.set(key, result.poll);
        } else {
          const closed = await this.opts.store.closePoll(
            meetingId,
            pollId,
            new Date(doc.receivedAt).toISOString(),
            doc.id,
          );
          if (closed) {
            undos.push(() => this.opts.store.undoPoll(meetingId, pollId, 'reopen'));
            this.polls.set(key, closed);
          }
        }
      }
    } catch (err) {
      await undo();
      throw err;
    }
    return async () => {
      await undo();
      for (const id of ids) this.polls.delete(`${meetingId}/${id}`);
    };
  }

  private async loadPolls(meetingId: string, pollIds: string[]): Promise<Map<string, PollDocument>> {
    const found = new Map<string, PollDocument>();
    const missing: string[] = [];
    for (const id of pollIds) {
      const hit = this.polls.get(`${meetingId}/${id}`);
      if (hit) found.set(id, hit);
      else missing.push(id);
    }
    // Unknown polls are never cached: a poll just opened elsewhere must be found at once.
    if (missing.length) {
      for (const [id, doc] of await this.opts.store.getPolls(meetingId, missing)) {
        found.set(id, doc);
        this.polls.set(`${meetingId}/${id}`, doc);
      }
    }
    return found;
  }

  // ---------- lifecycle helpers ----------

  /** The meeting if it accepts events now: live, or scheduled and due (then it goes live). */
  private async acceptingMeeting(caller: Caller): Promise<StoredMeeting> {
    const meeting = caller.meeting;
    if (meeting.status === 'ended') throw meetingEnded();
    if (meeting.status === 'scheduled') {
      const due = meeting.startsAt !== undefined && Date.parse(meeting.startsAt) <= this.opts.clock();
      if (!due)
        throw conflict(
          'The meeting has not started yet; the host starts it (POST …/start) or it starts at startsAt.',
          'meeting-not-started',
        );
      return this.goLive(await this.freshMeeting(meeting.meetingId), null);
    }
    return meeting;
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
        this.systemEvent(meeting.meetingId, 'sys-started', 'meeting.started', {}, by, now),
      ]);
    } catch (err) {
      if (!(err instanceof IdConflictError)) throw err;
    }
    const live =
      (await this.opts.store.transitionMeeting(meeting.meetingId, ['scheduled'], 'live', {
        startedAt: new Date(now).toISOString(),
      })) ?? (await this.freshMeeting(meeting.meetingId));
    this.meetings.set(meeting.meetingId, live);
    if (live.status === 'ended') throw meetingEnded();
    return live;
  }

  /** The caller's meeting, re-read when the cached copy may be stale for a state change. */
  private async current(caller: Caller): Promise<StoredMeeting> {
    return this.freshMeeting(caller.meeting.meetingId);
  }

  private async freshMeeting(meetingId: string): Promise<StoredMeeting> {
    const meeting = await this.opts.store.getMeeting(meetingId);
    if (!meeting) throw notFound('No such meeting.');
    this.meetings.set(meetingId, meeting);
    return meeting;
  }

  private async freshParticipant(caller: Caller): Promise<StoredParticipant> {
    const { meetingId, participantId } = caller.claims;
    const participant = await this.opts.store.getParticipant(meetingId, participantId);
    if (!participant || participant.removedAt) throw revoked();
    this.participants.set(`${meetingId}/${participantId}`, participant);
    return participant;
  }

  private async meeting(meetingId: string): Promise<StoredMeeting | undefined> {
    const hit = this.meetings.get(meetingId);
    if (hit) return hit;
    const meeting = await this.opts.store.getMeeting(meetingId);
    if (meeting) this.meetings.set(meetingId, meeting);
    return meeting;
  }

  private async participant(
    meetingId: string,
    participantId: string,
  ): Promise<StoredParticipant | undefined> {
    const key = `${meetingId}/${participantId}`;
    const hit = this.participants.get(key);
    if (hit) return hit;
    // Small meetings: one query fills the cache for every participant, so a meeting whose people
    // all post about once a second costs one query a second instead of a read per post.
    const size = this.meetings.get(meetingId)?.participantCount;
    if (size !== undefined && size <= ROSTER_MAX) {
      await this.loadRoster(meetingId);
      const loaded = this.participants.get(key);
      if (loaded) return loaded;
    }
    const participant = await this.opts.store.getParticipant(meetingId, participantId);
    if (participant) this.participants.set(key, participant);
    return participant;
  }

  /**
   * Caches all participants of a meeting (concurrent callers share one query). An entry already
   * cached is kept: it is as fresh, or it is this instance's own write made while the query ran.
   * A participant missing from the answer (joined meanwhile, or a failed query) is read alone.
   */
  private loadRoster(meetingId: string): Promise<void> {
    let loading = this.rosterLoads.get(meetingId);
    if (!loading) {
      loading = this.opts.store
        .listParticipants(meetingId, '', ROSTER_MAX)
        .then((list) => {
          for (const p of list) {
            const key = `${meetingId}/${p.participantId}`;
            if (this.participants.get(key) === undefined) this.participants.set(key, p);
          }
        })
        .catch(() => undefined)
        .finally(() => this.rosterLoads.delete(meetingId));
      this.rosterLoads.set(meetingId, loading);
    }
    return loading;
  }

  // ---------- documents ----------

  private issue(p: StoredParticipant, now: number): IssuedToken {
    const expiresAt = Math.floor(now / 1000) + this.opts.tokenTtlMinutes * 60;
    const token = signParticipantToken(
      { meetingId: p.meetingId, participantId: p.participantId, role: p.role, expiresAt },
      this.opts.tokenSecret,
      now,
    );
    return { token, expiresAt: new Date(expiresAt * 1000).toISOString() };
  }

  private newParticipant(
    meetingId: string,
    id: string,
    displayName: string,
    role: Role,
    now: number,
  ): StoredParticipant {
    return {
      id: participantDocId(id),
      type: 'participant',
      schemaVersion: SCHEMA_VERSION,
      meetingId,
      participantId: id,
      displayName,
      role,
      joinedAt: new Date(now).toISOString(),
      sessions: 1,
      roleVersion: 0,
    };
  }

  private joinedEvent(p: StoredParticipant, now: number): EventDocument {
    return this.systemEvent(
      p.meetingId,
      `sys-joined-${p.participantId}-${p.sessions}`,
      'participant.joined',
      { participantId: p.participantId, displayName: p.displayName, role: p.role },
      p,
      now,
    );
  }

  /** Server events have deterministic ids, so retrying any use case stores each of them once. */
  private systemEvent(
    meetingId: string,
    id: string,
    eventType: EventType,
    data: Record<string, unknown>,
    actor: StoredParticipant | null,
    now: number,
  ): EventDocument {
    return {
      id,
      type: 'event',
      schemaVersion: SCHEMA_VERSION,
      meetingId,
      eventType,
      data,
      participantId: actor?.participantId ?? null,
      role: actor?.role ?? null,
      receivedAt: now,
    };
  }
}

function requireHost(caller: Caller, what: string): void {
  if (caller.role !== 'host') throw forbidden(`Only the host may ${what}.`, 'role');
}

const idsReused = (ids: string[]) =>
  conflict(`These event ids were already used for different events: ${ids.join(', ')}.`, 'id-conflict');
const meetingEnded = () => conflict('The meeting has ended; it accepts no more changes.', 'meeting-ended');
const revoked = () =>
  unauthorized('The token was revoked: the participant was removed from the meeting.', 'token-revoked');

/** Continuation tokens are opaque to clients: base64url JSON naming the last document returned. */
function encodeContinuation(afterDocId: string): string {
  return Buffer.from(JSON.stringify({ after: afterDocId })).toString('base64url');
}

function decodeContinuation(token: string): string {
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

export function publicMeeting(m: StoredMeeting) {
  return {
    id: m.meetingId,
    title: m.title,
    status: m.status,
    startsAt: m.startsAt,
    endsAt: m.endsAt,
    createdAt: m.createdAt,
    startedAt: m.startedAt,
    endedAt: m.endedAt,
  };
}

export function publicParticipant(p: StoredParticipant) {
  return {
    id: p.participantId,
    displayName: p.displayName,
    role: p.role,
    status: p.removedAt ? 'removed' : p.leftAt ? 'left' : 'present',
    joinedAt: p.joinedAt,
    leftAt: p.leftAt,
    removedAt: p.removedAt,
  };
}
