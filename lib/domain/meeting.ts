/**
 * The meeting's live model and the pure reducer that folds stored events into it, producing the
 * envelopes (without seq) that participants receive. Deterministic: time comes from the caller.
 */
import type { EventDocument, Envelope } from '../protocol';

export type DraftEnvelope = Envelope extends infer E
  ? E extends Envelope
    ? Omit<E, 'seq' | 'meetingId'>
    : never
  : never;

export interface MeetingModel {
  status: 'scheduled' | 'live' | 'ended';
  eventCount: number;
}

export function initialModel(): MeetingModel {
  return { status: 'scheduled', eventCount: 0 };
}

/** Folds one event into the model (mutating it) and returns the envelopes it produces. */
export function applyEvent(model: MeetingModel, event: EventDocument, now: number): DraftEnvelope[] {
  model.eventCount++;
  if (event.eventType === 'meeting.started') model.status = 'live';
  if (event.eventType === 'meeting.ended') model.status = 'ended';
  return [
    {
      kind: 'event',
      type: event.eventType,
      id: event.id,
      actor: event.participantId,
      data: event.data,
      at: new Date(event.receivedAt).toISOString(),
      trace: { accepted: event.receivedAt, processed: now },
    },
  ];
}
