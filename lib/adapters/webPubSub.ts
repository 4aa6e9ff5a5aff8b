/**
 * Web PubSub adapter: pushes envelope batches to a meeting's group and issues client URLs whose
 * token can join only that group (no send permission).
 */
import { createSecretKey } from 'node:crypto';
import type { Agent } from 'node:https';
import {
  WebPubSubServiceClient,
  type AzureKeyCredential,
  type WebPubSubServiceClientOptions,
} from '@azure/web-pubsub';
import type { Config } from '../config';
import { createCredential, type ConnectionOptions } from './identity';
import { MEETING_QUERY } from '../delivery/upstream';
import type { ClientAccess, ParticipantConnections, Publisher } from '../ports';
import { meetingGroup, type Envelope } from '../protocol';

export type { ClientAccess, Publisher } from '../ports';

export class WebPubSubGateway implements Publisher, ParticipantConnections {
  readonly client: WebPubSubServiceClient;

  constructor(config: Config, options: ConnectionOptions = {}) {
    const { identity, hub } = config.webPubSub;
    const clientOptions: WebPubSubServiceClientOptions = {
      retryOptions: { maxRetries: 2, retryDelayInMs: 50, maxRetryDelayInMs: 500 },
      ...(options.agent !== undefined ? { additionalPolicies: [agentPolicy(options.agent)] } : {}),
    };
    if (identity !== undefined) {
      // With a TokenCredential the SDK sends `Authorization: Bearer` (scope
      // https://webpubsub.azure.com/.default, https only) and client URLs cost one REST call
      // (`:generateToken`): without a key nothing can be signed here.
      this.client = new WebPubSubServiceClient(
        config.webPubSub.endpoint,
        options.credential ?? createCredential(identity),
        hub,
        clientOptions,
      );
    } else {
      const { endpoint, credential } = parseConnectionString(config.webPubSub.connectionString);
      this.client = new WebPubSubServiceClient(endpoint, credential, hub, {
        // Only relevant for http endpoints (the embedded hub); harmless against https.
        allowInsecureConnection: true,
        ...clientOptions,
      });
    }
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
    // The hub hands the client URL's query to our `connect` handler (documented, unlike the shape
    // of the token claims there): it names the meeting the client asks to join.
    const withMeeting = new URL(url);
    withMeeting.searchParams.set(MEETING_QUERY, meetingId);
    return { url: withMeeting.toString(), group };
  }

  async closeParticipant(participantId: string, reason: string): Promise<void> {
    await this.client.closeUserConnections(participantId, { reason });
  }
}

/** Sends every request of the pipeline through `agent` (e.g. one that trusts a test CA). */
function agentPolicy(agent: Agent): NonNullable<WebPubSubServiceClientOptions['additionalPolicies']>[number] {
  return {
    position: 'perCall',
    policy: {
      name: 'meetstreamAgent',
      sendRequest(request, next) {
        request.agent = agent;
        return next(request);
      },
    },
  };
}

/**
 * The SDK's own parsing (endpoint, optional port, access key), but the key is handed over as a
 * secret KeyObject: the SDK signs a JWT per REST call (and per client token) with jsonwebtoken,
 * which given a string first tries to parse it as a PEM private key and throws; that failed parse
 * was the largest single cost of a push (≈ 0.5 ms CPU, bench/ops.ts). The signatures are identical.
 */
function parseConnectionString(connectionString: string): {
  endpoint: string;
  credential: AzureKeyCredential;
} {
  const parts = new Map<string, string>();
  for (const part of connectionString.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) parts.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const rawEndpoint = parts.get('endpoint');
  const key = parts.get('accesskey');
  if (!rawEndpoint) throw new TypeError('Web PubSub connection string: missing Endpoint');
  if (!key) throw new TypeError('Web PubSub connection string: missing AccessKey');
  const url = new URL(rawEndpoint.startsWith('http') ? rawEndpoint : `https://${rawEndpoint}`);
  const port = parts.get('port');
  if (port) url.port = port;
  const secret = createSecretKey(Buffer.from(key, 'utf8'));
  // The SDK only reads `.key` (duck-typed), and passes it to jsonwebtoken, which accepts a KeyObject.
  const credential = { key: secret } as unknown as AzureKeyCredential;
  return { endpoint: url.toString(), credential };
}
