/**
 * Reads a meeting's stored documents straight from Cosmos DB with the official SDK, for tests
 * that assert what was (or was not) stored, and signs tokens with the stack's secret.
 */
import { CosmosClient, type Container } from '@azure/cosmos';
import { parseConnectionString } from '../../lib/config';
import { signParticipantToken, type ParticipantClaims } from '../../lib/tokens';

export interface StackDocuments {
  events: Container;
  meetings: Container;
  /** Every document of the meeting in both containers, sorted by container and id, as JSON text. */
  snapshot(meetingId: string): Promise<string>;
  eventIds(meetingId: string): Promise<string[]>;
  dispose(): void;
}

export function stackDocuments(stack: { env: Record<string, string> }): StackDocuments {
  const parts = parseConnectionString(stack.env.CosmosDBConnection ?? '');
  const client = new CosmosClient({ endpoint: parts.AccountEndpoint ?? '', key: parts.AccountKey ?? '' });
  const db = client.database(stack.env.COSMOS_DATABASE ?? 'meetstream');
  const events = db.container(stack.env.COSMOS_EVENTS_CONTAINER ?? 'events');
  const meetings = db.container(stack.env.COSMOS_MEETINGS_CONTAINER ?? 'meetings');
  const all = async (container: Container, meetingId: string) => {
    const { resources } = await container.items
      .query<{ id: string }>(
        { query: 'SELECT * FROM c WHERE c.meetingId = @m', parameters: [{ name: '@m', value: meetingId }] },
        { partitionKey: meetingId },
      )
      .fetchAll();
    return resources.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  };
  return {
    events,
    meetings,
    async snapshot(meetingId) {
      const [e, m] = await Promise.all([all(events, meetingId), all(meetings, meetingId)]);
      return JSON.stringify({ events: e, meetings: m });
    },
    async eventIds(meetingId) {
      return (await all(events, meetingId)).map((d) => d.id);
    },
    dispose: () => client.dispose(),
  };
}

/** A token signed with the stack's own secret, e.g. already expired. */
export function signToken(
  stack: { env: Record<string, string> },
  claims: ParticipantClaims,
  now = Date.now(),
): string {
  return signParticipantToken(claims, stack.env.MEETSTREAM_TOKEN_SECRET ?? '', now);
}
