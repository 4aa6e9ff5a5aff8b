/**
 * Rebuild: recompute a meeting's model from its event log alone and compare it with the live,
 * incrementally computed one, as of the same time. Used by operators to verify (and, if ever
 * needed, repair) a meeting; the tests use it to prove live == rebuilt.
 */
import { isDeepStrictEqual } from 'node:util';
import type { StateStore, StoredState } from '../ports';
import { rebuildFromEvents, snapshot, type MeetingSnapshot } from '../domain/meeting';
import type { EventDocument } from '../protocol';
import type { ProcessorState } from './processor';

export interface RebuildResult {
  meetingId: string;
  events: number;
  /** Processing has folded every logged event (otherwise the comparison is premature). */
  caughtUp: boolean;
  equal: boolean;
  /** Top-level snapshot fields that differ. */
  differences: string[];
  applied: boolean;
  asOf: number;
  rebuilt: MeetingSnapshot;
}

export async function rebuildMeeting(input: {
  meetingId: string;
  events: EventDocument[];
  stored: StoredState<ProcessorState> | undefined;
  now: number;
  apply: boolean;
  store: StateStore<ProcessorState>;
}): Promise<RebuildResult> {
  const { events, stored, now } = input;
  const { model } = rebuildFromEvents(events, now);
  const rebuilt = snapshot(model, now);
  const lastLsn = events.reduce((max, e) => Math.max(max, e._lsn ?? -1), -1);
  const caughtUp = stored !== undefined && stored.state.lsn >= lastLsn;
  const live = stored ? snapshot(stored.state.model, now) : undefined;
  const differences = live
    ? (Object.keys(rebuilt) as Array<keyof MeetingSnapshot>).filter(
        (k) => !isDeepStrictEqual(live[k], rebuilt[k]),
      )
    : ['(no live state)'];
  let applied = false;
  if (input.apply && stored && caughtUp && differences.length > 0) {
    // Keep seq, LSN watermark and push bookkeeping: only the derived model is replaced.
    await input.store.commit(input.meetingId, { ...stored.state, model }, stored.etag, []);
    applied = true;
  }
  return {
    meetingId: input.meetingId,
    events: events.length,
    caughtUp,
    equal: differences.length === 0,
    differences,
    applied,
    asOf: rebuilt.asOf,
    rebuilt,
  };
}
