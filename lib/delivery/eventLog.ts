/**
 * Reading a meeting's delivered envelopes back from its pages: the catch-up route, long-poll and
 * SSE all serve exactly what the processor committed (and pushed, or will push), in seq order.
 *
 * Any instance can serve these reads: they are single-partition queries on the meetings
 * container. Pages are committed atomically with the state in seq order, and Cosmos DB never
 * shows a later write without the earlier ones (consistent prefix), so a reader sees a gapless
 * prefix of the log. A gap at the start of what is left means the older pages expired (retention).
 */
import type { Container } from '@azure/cosmos';
import { queryPagesAfter } from '../adapters/cosmos';
import { STATE_DOC_ID, type Envelope, type EventsPage, type PageDocument } from '../protocol';

export interface PageSource {
  /** Pages whose last seq is after `afterSeq`, in seq order. */
  pagesAfter(meetingId: string, afterSeq: number, maxPages: number): Promise<PageDocument[]>;
  /** Highest seq in a stored page (0 when none). */
  latestPageSeq(meetingId: string): Promise<number>;
  /** Highest seq ever assigned (from the state document; 0 for a meeting without one). */
  committedSeq(meetingId: string): Promise<number>;
}

export class CosmosPageSource implements PageSource {
  constructor(private readonly meetings: Container) {}

  pagesAfter(meetingId: string, afterSeq: number, maxPages: number): Promise<PageDocument[]> {
    return queryPagesAfter(this.meetings, meetingId, afterSeq, maxPages);
  }

  // The cheap "anything new?" probe of long-poll and SSE: one indexed single-partition query that
  // returns one number (the state document is far larger, so it is not read for this).
  async latestPageSeq(meetingId: string): Promise<number> {
    const { resources } = await this.meetings.items
      .query<number>(
        {
          query: "SELECT TOP 1 VALUE c.lastSeq FROM c WHERE c.type = 'page' ORDER BY c.lastSeq DESC",
          parameters: [],
        },
        { partitionKey: meetingId },
      )
      .fetchAll();
    return typeof resources[0] === 'number' ? resources[0] : 0;
  }

  async committedSeq(meetingId: string): Promise<number> {
    const { resources } = await this.meetings.items
      .query<number>(
        {
          query: 'SELECT VALUE c.state.seq FROM c WHERE c.id = @id',
          parameters: [{ name: '@id', value: STATE_DOC_ID }],
        },
        { partitionKey: meetingId },
      )
      .fetchAll();
    return typeof resources[0] === 'number' ? resources[0] : 0;
  }
}

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
