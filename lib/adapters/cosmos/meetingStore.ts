/**
 * The write side's storage (MeetingStore, lib/ports.ts) on Cosmos DB: the meeting, participant
 * and poll documents in the meetings container, events in the events container.
 */
import type { PatchOperation } from '@azure/cosmos';
import { participantChangeApplies } from '../../domain/rules';
import {
  pollDocId,
  sameEvent,
  type PollDocument,
  type StoredMeeting,
  type StoredParticipant,
} from '../../documents';
import {
  IdConflictError,
  type InsertOutcome,
  type MeetingStatus,
  type MeetingStore,
  type ParticipantChange,
} from '../../ports';
import { MEETING_DOC_ID, participantDocId, type EventDocument } from '../../protocol';
import { batch, isStatus, json, patchIf, type CosmosContainers } from './client';

/** The patch that makes `c` so, once the rules said it still applies. */
function participantPatch(p: StoredParticipant, c: ParticipantChange): PatchOperation[] | undefined {
  if (participantChangeApplies(p, c) !== 'ok') return undefined;
  switch (c.kind) {
    case 'leave':
      return [{ op: 'set', path: '/leftAt', value: c.at }];
    case 'rejoin':
      return [
        { op: 'remove', path: '/leftAt' },
        { op: 'incr', path: '/sessions', value: 1 },
      ];
    case 'remove':
      return [{ op: 'set', path: '/removedAt', value: c.at }];
    case 'role':
      return [
        { op: 'set', path: '/role', value: c.role },
        { op: 'incr', path: '/roleVersion', value: 1 },
      ];
  }
}

const MAX_INSERT_ATTEMPTS = 4;

export class CosmosMeetingStore implements MeetingStore {
  constructor(private readonly c: CosmosContainers) {}

  async createMeeting(
    meeting: StoredMeeting,
    host: StoredParticipant,
    events: EventDocument[],
  ): Promise<void> {
    await batch(this.c.meetings, meeting.meetingId, [
      { operationType: 'Create', resourceBody: json(meeting) },
      { operationType: 'Create', resourceBody: json(host) },
    ]);
    await this.insertEvents(meeting.meetingId, events);
  }

  async getMeeting(meetingId: string): Promise<StoredMeeting | undefined> {
    const { resource } = await this.c.meetings.item(MEETING_DOC_ID, meetingId).read<StoredMeeting>();
    return resource;
  }

  async admitParticipant(meetingId: string, max: number): Promise<'admitted' | 'full' | 'ended' | 'missing'> {
    // An unconditional increment is atomic and never contends; going over is undone at once.
    const item = this.c.meetings.item(MEETING_DOC_ID, meetingId);
    let counted: StoredMeeting | undefined;
    try {
      counted = (await item.patch<StoredMeeting>([{ op: 'incr', path: '/participantCount', value: 1 }]))
        .resource;
    } catch (err) {
      if (isStatus(err, 404)) return 'missing';
      throw err;
    }
    if (counted && counted.status !== 'ended' && counted.participantCount <= max) return 'admitted';
    await item.patch([{ op: 'incr', path: '/participantCount', value: -1 }]);
    return counted?.status === 'ended' ? 'ended' : 'full';
  }

  async transitionMeeting(
    meetingId: string,
    from: MeetingStatus[],
    to: MeetingStatus,
    fields: { startedAt?: string; endedAt?: string; endedBy?: string },
  ): Promise<StoredMeeting | undefined> {
    return patchIf<StoredMeeting>(this.c.meetings, MEETING_DOC_ID, meetingId, (m) => {
      if (!from.includes(m.status)) return undefined;
      const operations: PatchOperation[] = [{ op: 'set', path: '/status', value: to }];
      for (const [k, v] of Object.entries(fields))
        if (v !== undefined) operations.push({ op: 'set', path: `/${k}`, value: v });
      return operations;
    });
  }

  async setJoinCodeHash(meetingId: string, joinCodeHash: string): Promise<StoredMeeting | undefined> {
    try {
      const { resource } = await this.c.meetings
        .item(MEETING_DOC_ID, meetingId)
        .patch<StoredMeeting>([{ op: 'set', path: '/joinCodeHash', value: joinCodeHash }]);
      return resource;
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
  }

  async getParticipant(meetingId: string, participantId: string): Promise<StoredParticipant | undefined> {
    const { resource } = await this.c.meetings
      .item(participantDocId(participantId), meetingId)
      .read<StoredParticipant>();
    return resource;
  }

  async createParticipant(participant: StoredParticipant): Promise<void> {
    await this.c.meetings.items.create(participant);
  }

  async updateParticipant(
    meetingId: string,
    participantId: string,
    change: ParticipantChange,
  ): Promise<StoredParticipant | undefined> {
    return patchIf<StoredParticipant>(this.c.meetings, participantDocId(participantId), meetingId, (p) =>
      participantPatch(p, change),
    );
  }

  async listParticipants(meetingId: string, afterDocId: string, limit: number): Promise<StoredParticipant[]> {
    const { resources } = await this.c.meetings.items
      .query<StoredParticipant>(
        {
          query:
            "SELECT TOP @n * FROM c WHERE c.meetingId = @m AND c.type = 'participant' AND c.id > @after ORDER BY c.id",
          parameters: [
            { name: '@n', value: limit },
            { name: '@m', value: meetingId },
            { name: '@after', value: afterDocId },
          ],
        },
        { partitionKey: meetingId },
      )
      .fetchAll();
    return resources;
  }

  async getPolls(meetingId: string, pollIds: string[]): Promise<Map<string, PollDocument>> {
    const found = new Map<string, PollDocument>();
    const docs = await Promise.all(
      pollIds.map((id) =>
        this.c.meetings
          .item(pollDocId(id), meetingId)
          .read<PollDocument>()
          .then((r) => r.resource),
      ),
    );
    for (const doc of docs) if (doc) found.set(doc.pollId, doc);
    return found;
  }

  async countPolls(meetingId: string): Promise<{ total: number; open: number }> {
    const { resources } = await this.c.meetings.items
      .query<string>(
        {
          query: "SELECT VALUE c.status FROM c WHERE c.meetingId = @m AND c.type = 'poll'",
          parameters: [{ name: '@m', value: meetingId }],
        },
        { partitionKey: meetingId },
      )
      .fetchAll();
    return { total: resources.length, open: resources.filter((s) => s === 'open').length };
  }

  async createPoll(poll: PollDocument): Promise<{ created: boolean; poll: PollDocument }> {
    try {
      await this.c.meetings.items.create(poll);
      return { created: true, poll };
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
      const existing = (await this.getPolls(poll.meetingId, [poll.pollId])).get(poll.pollId);
      if (!existing) throw err;
      return { created: false, poll: existing };
    }
  }

  async closePoll(
    meetingId: string,
    pollId: string,
    at: string,
    eventId: string,
  ): Promise<PollDocument | undefined> {
    return patchIf<PollDocument>(this.c.meetings, pollDocId(pollId), meetingId, (p) =>
      p.status !== 'open'
        ? undefined
        : [
            { op: 'set', path: '/status', value: 'closed' },
            { op: 'set', path: '/closedAt', value: at },
            { op: 'set', path: '/closeEventId', value: eventId },
          ],
    );
  }

  async undoPoll(meetingId: string, pollId: string, undo: 'delete' | 'reopen'): Promise<void> {
    const item = this.c.meetings.item(pollDocId(pollId), meetingId);
    try {
      if (undo === 'delete') await item.delete();
      else
        await item.patch([
          { op: 'set', path: '/status', value: 'open' },
          { op: 'remove', path: '/closedAt' },
          { op: 'remove', path: '/closeEventId' },
        ]);
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
    }
  }

  async findEvents(meetingId: string, ids: string[]): Promise<Map<string, EventDocument>> {
    const found = new Map<string, EventDocument>();
    if (ids.length === 0) return found;
    if (ids.length === 1) {
      const { resource } = await this.c.events.item(ids[0]!, meetingId).read<EventDocument>();
      if (resource) found.set(resource.id, resource);
      return found;
    }
    const { resources } = await this.c.events.items
      .query<EventDocument>(
        {
          query: 'SELECT * FROM c WHERE c.meetingId = @m AND ARRAY_CONTAINS(@ids, c.id)',
          parameters: [
            { name: '@m', value: meetingId },
            { name: '@ids', value: ids },
          ],
        },
        { partitionKey: meetingId },
      )
      .fetchAll();
    for (const r of resources) found.set(r.id, r);
    return found;
  }

  async insertEvents(
    meetingId: string,
    events: EventDocument[],
    known?: Map<string, EventDocument>,
  ): Promise<InsertOutcome[]> {
    return this.insertEventsAttempt(meetingId, events, known, 1);
  }

  /**
   * One attempt: with `known` given (possibly empty: create-first), no read before the write; a
   * 409 means some ids were stored meanwhile (or before, create-first), so the next attempt reads
   * them and answers them as duplicates or conflicts.
   */
  private async insertEventsAttempt(
    meetingId: string,
    events: EventDocument[],
    known: Map<string, EventDocument> | undefined,
    attempt: number,
  ): Promise<InsertOutcome[]> {
    if (events.length === 0) return [];
    const existing =
      known ??
      (await this.findEvents(
        meetingId,
        events.map((e) => e.id),
      ));
    const conflicts = events
      .filter((e) => existing.has(e.id) && !sameEvent(existing.get(e.id)!, e))
      .map((e) => e.id);
    if (conflicts.length) throw new IdConflictError(conflicts);
    const fresh = events.filter((e) => !existing.has(e.id));
    const retry = (err: unknown) => {
      // Reading what conflicted and retrying settles it; going round more often means the store
      // answers 409 for ids it cannot show (not expected): give up with that answer.
      if (attempt >= MAX_INSERT_ATTEMPTS) throw err;
      return this.insertEventsAttempt(meetingId, events, undefined, attempt + 1);
    };
    if (fresh.length === 1) {
      try {
        await this.c.events.items.create(fresh[0]!);
      } catch (err) {
        // Already stored (a retry, create-first) or lost a race with a concurrent identical post.
        if (!isStatus(err, 409)) throw err;
        return retry(err);
      }
    } else if (fresh.length > 1) {
      const ok = await batch(
        this.c.events,
        meetingId,
        fresh.map((e) => ({ operationType: 'Create' as const, resourceBody: json(e) })),
        true,
      );
      if (!ok) return retry(Object.assign(new Error('transactional batch failed with 409'), { code: 409 }));
    }
    return events.map((e) => {
      const stored = existing.get(e.id);
      return stored
        ? { id: e.id, status: 'duplicate', receivedAt: stored.receivedAt }
        : { id: e.id, status: 'created', receivedAt: e.receivedAt };
    });
  }
}
