/**
 * Posting events: the participant's events are checked against the shared rules
 * (lib/domain/rules.ts) and stored atomically, all or none. Two paths: create-first for the
 * common case (no read before the write), and read-first for posts that touch polls or may be
 * replays; polls are recorded before the events and undone if the events cannot be stored
 * (a small saga).
 *
 * Cache: poll documents are read through the same short cache as the meeting (CACHE_TTL_MS), so
 * another instance may accept a vote for at most that long after a poll closed; the processor
 * drops such events anyway (it applies events in feed order and refuses votes on closed polls).
 */
import { TtlCache } from '../cache';
import {
  mayClosePoll,
  mayLowerHand,
  mayManagePolls,
  mayOpenPoll,
  mayVote,
  pollCapacity,
} from '../domain/rules';
import type { ClientEvent } from '../domain/validation';
import { eventDocument, pollDocument, sameEvent, type PollDocument } from '../documents';
import { serverEventId } from '../ids';
import { IdConflictError } from '../ports';
import type { EventDocument } from '../protocol';
import { CACHE_TTL_MS, type Caller, type MeetingServiceOptions } from './access';
import type { MeetingLifecycle } from './lifecycle';
import { eventRefused, idsReused, participantLeft } from './problems';

export interface AcceptedEvent {
  id: string;
  receivedAt: string;
}

type Fresh = Array<{ doc: EventDocument; index: number }>;

export class MeetingIngest {
  private readonly polls: TtlCache<PollDocument>;

  constructor(
    private readonly opts: MeetingServiceOptions,
    private readonly lifecycle: MeetingLifecycle,
  ) {
    this.polls = new TtlCache(opts.cacheTtlMs ?? CACHE_TTL_MS, 10_000, opts.clock);
  }

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
    const docs: EventDocument[] = events.map((e) =>
      eventDocument({
        id: e.id ?? serverEventId(),
        meetingId,
        eventType: e.type,
        data: e.data as Record<string, unknown>,
        participantId: caller.participant.participantId,
        role: caller.role,
        receivedAt,
      }),
    );
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

    const fresh: Fresh = [];
    docs.forEach((doc, index) => {
      if (!existing.has(doc.id)) fresh.push({ doc, index });
    });
    if (fresh.length > 0) {
      const meeting = await this.lifecycle.acceptingMeeting(caller);
      if (caller.participant.leftAt) throw participantLeft();
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
      this.committed(meetingId, receivedAt, fresh.length);
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
    this.committed(
      meeting.meetingId,
      docs[0]?.receivedAt ?? 0,
      outcomes.filter((o) => o.status === 'created').length,
    );
    return {
      accepted: outcomes.map((o) => ({ id: o.id, receivedAt: new Date(o.receivedAt).toISOString() })),
      replayed: outcomes.every((o) => o.status === 'duplicate'),
    };
  }

  /** The accepted → committed hop, once per newly stored event (replays were timed before). */
  private committed(meetingId: string, receivedAt: number, events: number): void {
    if (events > 0) this.opts.meter?.record(meetingId, 'committed', this.opts.clock() - receivedAt, events);
  }

  /** Who may send what (the role rules); poll state is checked by applyPolls. */
  private checkRoles(caller: Caller, fresh: Fresh, batch: boolean): void {
    for (const { doc, index } of fresh) {
      const where = batch ? ` (events[${index}])` : '';
      const site = { where, data: batch ? `events[${index}].data` : 'data' };
      const self = caller.participant.participantId;
      if (doc.eventType === 'hand.lower') {
        const target = (doc.data.participantId as string | undefined) ?? self;
        const verdict = mayLowerHand(self, caller.role, target);
        if (verdict !== 'ok') throw eventRefused(verdict, site);
      }
      if (doc.eventType === 'poll.open' || doc.eventType === 'poll.close') {
        const verdict = mayManagePolls(caller.role);
        if (verdict !== 'ok') throw eventRefused(verdict, site);
      }
    }
  }

  /**
   * Checks the poll events of a post in order against the stored polls (and the earlier events of
   * the same post), then records opens and closes. Returns the compensation to run if the events
   * themselves cannot be stored.
   */
  private async applyPolls(caller: Caller, fresh: Fresh, batch: boolean): Promise<() => Promise<void>> {
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
      const poll = view.get(pollId);
      const site = {
        where: batch ? ` (events[${index}])` : '',
        data: batch ? `events[${index}].data` : 'data',
        pollId,
        optionCount: poll?.optionCount,
      };
      if (doc.eventType === 'poll.open') {
        const verdict = mayOpenPoll(poll, poll?.openEventId === doc.id);
        if (verdict !== 'ok') throw eventRefused(verdict, site);
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
      } else if (doc.eventType === 'poll.vote') {
        const verdict = mayVote(poll, doc.data.option as number);
        if (verdict !== 'ok') throw eventRefused(verdict, site);
      } else {
        const verdict = mayClosePoll(poll);
        if (verdict !== 'ok') throw eventRefused(verdict, site);
        if (poll?.status === 'open') {
          view.set(pollId, { ...poll, status: 'closed' });
          openDelta--;
          writes.push({ kind: 'close', doc });
        }
      }
    }
    if (newPolls > 0) {
      const verdict = pollCapacity(await this.opts.store.countPolls(meetingId), newPolls, openDelta);
      if (verdict !== 'ok') throw eventRefused(verdict, { where: '', data: 'data' });
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
          const result = await this.opts.store.createPoll(
            pollDocument(doc, caller.participant.participantId),
          );
          if (!result.created && result.poll.openEventId !== doc.id)
            throw eventRefused('duplicate-poll', { where: '', data: 'data', pollId });
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
}
