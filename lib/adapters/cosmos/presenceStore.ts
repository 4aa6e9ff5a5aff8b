/**
 * Presence's storage (PresenceStore, lib/ports.ts) on Cosmos DB: one presence document per
 * participant in the meetings container, away/back events in the events container.
 */
import type { Container } from '@azure/cosmos';
import type { MeetingStatus, PresenceStore } from '../../ports';
import {
  MEETING_DOC_ID,
  participantDocId,
  presenceDocId,
  type EventDocument,
  type MeetingDocument,
  type ParticipantDocument,
  type PresenceDocument,
} from '../../protocol';
import { isStatus } from './client';

export class CosmosPresenceStore implements PresenceStore {
  constructor(
    private readonly meetings: Container,
    private readonly events: Container,
  ) {}

  async read(meetingId: string, participantId: string) {
    const { resource, etag } = await this.meetings
      .item(presenceDocId(participantId), meetingId)
      .read<PresenceDocument>();
    return resource ? { doc: resource, etag } : undefined;
  }

  async write(doc: PresenceDocument, etag: string | undefined): Promise<string | 'conflict'> {
    try {
      const written = etag
        ? await this.meetings
            .item(doc.id, doc.meetingId)
            .replace(doc, { accessCondition: { type: 'IfMatch', condition: etag } })
        : await this.meetings.items.create(doc);
      return written.etag;
    } catch (err) {
      // 412: changed since read; 409: created by someone else since we found none.
      if (isStatus(err, 412) || isStatus(err, 409)) return 'conflict';
      throw err;
    }
  }

  async insertEvent(event: EventDocument): Promise<void> {
    try {
      await this.events.items.create(event);
    } catch (err) {
      if (!isStatus(err, 409)) throw err; // 409: written before (the id names the transition)
    }
  }

  async meetingAndParticipant(
    meetingId: string,
    participantId: string,
  ): Promise<{ status: MeetingStatus | undefined; participant: ParticipantDocument | undefined }> {
    const [meeting, participant] = await Promise.all([
      this.meetings.item(MEETING_DOC_ID, meetingId).read<MeetingDocument>(),
      this.meetings.item(participantDocId(participantId), meetingId).read<ParticipantDocument>(),
    ]);
    return { status: meeting.resource?.status, participant: participant.resource };
  }

  /** Cross-partition, so the tracker calls it from a timer every few seconds, not per request. */
  async due(now: number, limit: number): Promise<Array<{ meetingId: string; participantId: string }>> {
    const { resources } = await this.meetings.items
      .query<Pick<PresenceDocument, 'meetingId' | 'participantId'>>({
        query:
          "SELECT TOP @n c.meetingId, c.participantId FROM c WHERE c.type = 'presence' AND c.checkAt <= @now",
        parameters: [
          { name: '@n', value: limit },
          { name: '@now', value: now },
        ],
      })
      .fetchAll();
    return resources;
  }
}
