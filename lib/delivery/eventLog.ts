/**
 * Reading a meeting's delivered envelopes back from its pages: the catch-up route, long-poll and
 * SSE all serve exactly what the processor committed (and pushed, or will push), in seq order.
 *
 * Any instance can serve these reads: they are single-partition queries on the meetings
 * container. Pages are committed atomically with the state in seq order, and Cosmos DB never
 * shows a later write without the earlier ones (consistent prefix), so a reader sees a gapless
 * prefix of the log. A gap at the start of what is left means the older pages expired (retention).
 */
import type { PageSource } from '../ports';
import type { Envelope, EventsPage } from '../protocol';

export type { PageSource } from '../ports';
// Kept for existing imports: the Cosmos DB page reads live with the other adapters.
export { CosmosPageSource } from '../adapters/cosmos/stateStore';

/** The envelopes asked for expired (retention): the log now starts at `firstAvailableSeq`. */
export class RetentionGapError extends Error {
  constructor(readonly firstAvailableSeq: number) {
    super(`envelopes before seq ${firstAvailableSeq} have expired`);
  }
}

export interface ReadResult extends EventsPage {
  /** True when the read reached the end of the log as it was (continuation is then null). */
  end: boolean;
}

const PAGES_PER_QUERY = 8;

/**
 * Up to `limit` envelopes after `after`, gapless. Throws RetentionGapError when the next envelope
 * the caller needs has expired.
 */
export async function readEnvelopes(
  source: PageSource,
  meetingId: string,
  after: number,
  limit: number,
): Promise<ReadResult> {
  for (let attempt = 1; ; attempt++) {
    const result = await readOnce(source, meetingId, after, limit);
    if (result.items.length > 0 || !result.end) return result;
    // Nothing after `after`: caught up, unless seqs beyond it were assigned and their pages are gone.
    const committed = await source.committedSeq(meetingId);
    if (committed <= after) return result;
    // The state may be newer than the pages query was (a commit in between): look once more.
    if (attempt >= 2) throw new RetentionGapError(committed + 1);
  }
}

async function readOnce(
  source: PageSource,
  meetingId: string,
  after: number,
  limit: number,
): Promise<ReadResult> {
  const items: Envelope[] = [];
  let cursor = after;
  let end = false;
  outer: for (;;) {
    const pages = await source.pagesAfter(meetingId, cursor, PAGES_PER_QUERY);
    if (pages.length === 0) {
      end = true;
      break;
    }
    for (const page of pages) {
      for (const envelope of page.envelopes) {
        if (envelope.seq <= cursor) continue;
        if (envelope.seq !== cursor + 1) {
          if (items.length === 0) throw new RetentionGapError(envelope.seq);
          // Never serve past a hole: the caller reads on from the last contiguous seq.
          break outer;
        }
        items.push(envelope);
        cursor = envelope.seq;
        if (items.length >= limit) break outer;
      }
    }
    if (pages.length < PAGES_PER_QUERY) {
      end = true;
      break;
    }
  }
  return { items, continuation: end ? null : String(cursor), end };
}
