/**
 * Reads one meeting's event log in commit order: the change feed of its partition from the
 * beginning. Events are never updated, so the latest-version feed is the full log, and its order
 * is exactly the order the processor folded them in (queries would order by time, not commit).
 */
import { ChangeFeedStartFrom, type Container } from '@azure/cosmos';
import type { EventDocument } from '../../protocol';

export async function readEventLog(
  events: Container,
  meetingId: string,
  limit = 1_000_000,
): Promise<EventDocument[]> {
  const iterator = events.items.getChangeFeedIterator<EventDocument>({
    changeFeedStartFrom: ChangeFeedStartFrom.Beginning(meetingId),
    maxItemCount: 1000,
  });
  const out: EventDocument[] = [];
  while (iterator.hasMoreResults && out.length < limit) {
    const page = await iterator.readNext();
    if (page.statusCode === 304 || page.result.length === 0) break;
    out.push(...page.result);
  }
  return out;
}
