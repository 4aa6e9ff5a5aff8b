/**
 * Who is calling, and may they: bearer tokens, the revocation of removed participants, the
 * per-participant rate limits, the host-only guard, and the per-process caches of the meeting and
 * participant documents every request reads (docs/api.md "Caches and staleness").
 *
 * Caches: the meeting and participant documents are read through a short cache (CACHE_TTL_MS),
 * updated at once by this instance's own writes (remember*). Removed participants are remembered
 * for the token lifetime, so their tokens never need another read.
 */
import type { HopMeter } from '../processing/latency';
import { TtlCache } from '../cache';
import type { RateLimits } from '../config';
import type { StoredMeeting, StoredParticipant } from '../documents';
import { forbidden, tooManyRequests, unauthorized } from '../errors';
import type { ClientAccess, MeetingStore, ParticipantConnections } from '../ports';
import type { Role } from '../protocol';
import { RateLimiter } from '../rateLimit';
import {
  signParticipantToken,
  signStreamTicket,
  verifyParticipantToken,
  type ParticipantClaims,
  type TokenPurpose,
} from '../tokens';
import { noSuchMeeting, onlyHost, revoked } from './problems';

export interface MeetingServiceOptions {
  store: MeetingStore;
  /** Times the accepted → committed hop of every stored event (lib/processing/latency.ts). */
  meter?: HopMeter;
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

/** How long cached meeting / participant / poll documents are trusted. */
export const CACHE_TTL_MS = 1000;
/** Meetings with at most this many participants cache them all from one query (participant()). */
const ROSTER_MAX = 50;

export function requireHost(caller: Caller, what: string): void {
  if (caller.role !== 'host') throw onlyHost(what);
}

export class MeetingAccess {
  private readonly meetings: TtlCache<StoredMeeting | undefined>;
  private readonly participants: TtlCache<StoredParticipant | undefined>;
  /** `meetingId/participantId` of removed participants, kept as long as any of their tokens may live. */
  private readonly removed: TtlCache<true>;
  /**
   * Roster queries in flight, per meeting. Never kept once done (TTL 0): the cached participants
   * are what lasts; this only makes concurrent misses share one query.
   */
  private readonly rosterLoads: TtlCache<true>;
  readonly limiter: RateLimiter;

  constructor(private readonly opts: MeetingServiceOptions) {
    const ttl = opts.cacheTtlMs ?? CACHE_TTL_MS;
    this.meetings = new TtlCache(ttl, 10_000, opts.clock);
    this.participants = new TtlCache(ttl, 50_000, opts.clock);
    this.removed = new TtlCache(opts.tokenTtlMinutes * 60_000, 50_000, opts.clock);
    this.rosterLoads = new TtlCache(0, 10_000, opts.clock);
    this.limiter = new RateLimiter(opts.rateLimits, opts.clock);
  }

  // ---------- tokens ----------

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
    if (!meeting) throw noSuchMeeting();
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

  /** A participant token for `p`, valid for the configured lifetime from `now`. */
  issue(p: StoredParticipant, now: number): IssuedToken {
    const expiresAt = Math.floor(now / 1000) + this.opts.tokenTtlMinutes * 60;
    const token = signParticipantToken(
      { meetingId: p.meetingId, participantId: p.participantId, role: p.role, expiresAt },
      this.opts.tokenSecret,
      now,
    );
    return { token, expiresAt: new Date(expiresAt * 1000).toISOString() };
  }

  // ---------- the push service ----------

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

  async negotiate(caller: Caller): Promise<ClientAccess & { expiresAt: string }> {
    const { claims } = caller;
    const access = await this.opts.access.clientAccess(
      claims.meetingId,
      claims.participantId,
      claims.expiresAt,
    );
    return { ...access, expiresAt: new Date(claims.expiresAt * 1000).toISOString() };
  }

  // ---------- rate limits ----------

  /** Spends `cost` tokens of the participant's bucket, or throws 429 with Retry-After. */
  limit(who: { meetingId: string; participantId: string }, kind: 'events' | 'requests', cost: number): void {
    this.throttle(kind, `${who.meetingId}/${who.participantId}`, cost, (s) =>
      kind === 'events'
        ? `Too many events from this participant; retry in ${s} s.`
        : `Too many requests from this participant; retry in ${s} s.`,
    );
  }

  throttle(
    kind: keyof RateLimits,
    key: string,
    cost: number,
    detail: (retryAfterSeconds: number) => string,
  ): void {
    if (cost <= 0) return;
    const taken = this.limiter.take(kind, key, cost);
    if (!taken.ok) throw tooManyRequests(detail(taken.retryAfterSeconds), taken.retryAfterSeconds);
  }

  // ---------- the cached documents ----------

  /** The meeting, from the cache when fresh enough. */
  meeting(meetingId: string): Promise<StoredMeeting | undefined> {
    // A missing meeting is "cached" as undefined, which the cache answers as a miss: never kept.
    return this.meetings.getOrLoad(meetingId, () => this.opts.store.getMeeting(meetingId));
  }

  /** The meeting read fresh, for state changes that must not act on a stale copy. */
  async freshMeeting(meetingId: string): Promise<StoredMeeting> {
    const meeting = await this.opts.store.getMeeting(meetingId);
    if (!meeting) throw noSuchMeeting();
    this.meetings.set(meetingId, meeting);
    return meeting;
  }

  /** The caller, read fresh (their cached copy said something a write then contradicted). */
  async freshParticipant(caller: Caller): Promise<StoredParticipant> {
    const { meetingId, participantId } = caller.claims;
    const participant = await this.opts.store.getParticipant(meetingId, participantId);
    if (!participant || participant.removedAt) throw revoked();
    this.participants.set(`${meetingId}/${participantId}`, participant);
    return participant;
  }

  participant(meetingId: string, participantId: string): Promise<StoredParticipant | undefined> {
    const key = `${meetingId}/${participantId}`;
    return this.participants.getOrLoad(key, async () => {
      // Small meetings: one query fills the cache for every participant, so a meeting whose people
      // all post about once a second costs one query a second instead of a read per post.
      const size = this.meetings.get(meetingId)?.participantCount;
      if (size !== undefined && size <= ROSTER_MAX) {
        await this.loadRoster(meetingId);
        const loaded = this.participants.get(key);
        if (loaded) return loaded;
      }
      return this.opts.store.getParticipant(meetingId, participantId);
    });
  }

  /** This instance's own write: later reads here see it at once. */
  rememberMeeting(meeting: StoredMeeting): void {
    this.meetings.set(meeting.meetingId, meeting);
  }

  rememberParticipant(participant: StoredParticipant): void {
    this.participants.set(`${participant.meetingId}/${participant.participantId}`, participant);
  }

  /** The participant was removed: their tokens are refused from now on, without another read. */
  rememberRemoved(meetingId: string, participantId: string): void {
    const key = `${meetingId}/${participantId}`;
    this.removed.set(key, true);
    this.participants.delete(key);
  }

  /**
   * Caches all participants of a meeting (concurrent callers share one query). An entry already
   * cached is kept: it is as fresh, or it is this instance's own write made while the query ran.
   * A participant missing from the answer (joined meanwhile, or a failed query) is read alone.
   */
  private async loadRoster(meetingId: string): Promise<void> {
    await this.rosterLoads.getOrLoad(meetingId, () =>
      this.opts.store
        .listParticipants(meetingId, '', ROSTER_MAX)
        .then((list) => {
          for (const p of list) {
            const key = `${meetingId}/${p.participantId}`;
            if (this.participants.get(key) === undefined) this.participants.set(key, p);
          }
        })
        .catch(() => undefined)
        .then(() => true as const),
    );
  }
}
