/**
 * Web PubSub adapter: pushes envelope batches to a meeting's group and issues client URLs whose
 * token can join only that group (no send permission).
 */
import { WebPubSubServiceClient } from '@azure/web-pubsub';
import type { Config } from '../config';
import { meetingGroup, type Envelope } from '../protocol';

export interface Publisher {
  publish(meetingId: string, envelopes: Envelope[]): Promise<void>;
}

export interface ClientAccess {
  url: string;
  group: string;
}

export class WebPubSubGateway implements Publisher {
  readonly client: WebPubSubServiceClient;

  constructor(config: Config) {
    this.client = new WebPubSubServiceClient(config.webPubSub.connectionString, config.webPubSub.hub, {
      // Only relevant for http endpoints (the embedded hub); harmless against https.
      allowInsecureConnection: true,
      retryOptions: { maxRetries: 2, retryDelayInMs: 50, maxRetryDelayInMs: 500 },
    });
  }

  async publish(meetingId: string, envelopes: Envelope[]): Promise<void> {
    await this.client
      .group(meetingGroup(meetingId))
      .sendToAll(envelopes as unknown as Record<string, unknown>);
  }

  async clientAccess(meetingId: string, participantId: string, expiresAtSec: number): Promise<ClientAccess> {
    const group = meetingGroup(meetingId);
    const minutes = Math.max(1, Math.floor((expiresAtSec * 1000 - Date.now()) / 60_000));
    const { url } = await this.client.getClientAccessToken({
      userId: participantId,
      roles: [`webpubsub.joinLeaveGroup.${group}`],
      groups: [group],
      expirationTimeInMinutes: minutes,
    });
    return { url, group };
  }

  async closeParticipant(participantId: string, reason: string): Promise<void> {
    await this.client.closeUserConnections(participantId, { reason });
  }
}
