/**
 * Embedded Azure Web PubSub for the local stack, tests and benchmarks: serves the REST API of
 * `WebPubSubServiceClient` and the client protocols of `WebPubSubClient` on one HTTP port.
 * Production uses the real service.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { EntraTokenVerifier } from '../../lib/entra';
import { RestTokenVerifier } from './auth';
import { BillingMeter, type BillingSnapshot } from './billing';
import { ClientConnections } from './connections';
import { UpstreamClient, type EventHandlerSettings } from './eventHandler';
import { HubRegistry } from './hub';
import { createRestHandler } from './rest';
import { DEFAULT_LIMITS, type SessionLimits } from './session';

export type { EventHandlerSettings } from './eventHandler';
export type { BillingSnapshot } from './billing';

export interface EmbeddedWebPubSubOptions {
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** 0 = ephemeral. */
  port?: number;
  accessKey: string;
  eventHandlers?: EventHandlerSettings[];
  /** How long a dropped reliable connection may take to resume; default 30 s like the service. */
  recoveryWindowMs?: number;
  /** Transport ping interval used to detect dead sockets; default 30 s. */
  keepAliveIntervalMs?: number;
  /** Per-connection bounds (replay buffer, socket backlog, remembered ackIds). */
  limits?: Partial<SessionLimits>;
  /**
   * Serve https/wss with this certificate instead of http/ws. The SDK sends Entra tokens only over
   * TLS (the real service is TLS-only), so the identity path needs it.
   */
  tls?: { key: string; cert: string };
  /**
   * Accept Microsoft Entra bearer tokens on REST calls, checked like the service does: RS256
   * against this JWKS, one of these issuers, audience https://webpubsub.azure.com (or `audiences`).
   */
  entra?: { jwksUri: string; issuers: string[]; audiences?: string[] };
  /** Refuse access-key-signed REST calls, like a resource with `disableLocalAuth: true`. */
  disableLocalAuth?: boolean;
}

/** The audience the SDK asks tokens for (scope https://webpubsub.azure.com/.default). */
export const WEBPUBSUB_TOKEN_AUDIENCE = 'https://webpubsub.azure.com';

export interface EmbeddedWebPubSub {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  /** Endpoint=http://127.0.0.1:PORT;AccessKey=...;Version=1.0; */
  connectionString: string;
  port: number;
  stats(): { connections: number; groups: number };
  /**
   * Billed messages per hub and group since start (or the last reset), as the service's billing
   * model counts them (billing.ts); also `GET /_embedded/stats` with an access-key JWT.
   */
  billing(): BillingSnapshot;
  resetBilling(): void;
  /**
   * Test hook: cuts a connection's socket as a network failure would (no close handshake). A
   * reliable client can then resume its session.
   */
  dropSocket(connectionId: string): boolean;
  /** How many REST calls of a route were answered, e.g. `POST :generateToken`. */
  restCalls(route: string): number;
  close(): Promise<void>;
}

const MAX_MESSAGE_BYTES = 1 << 20;

export async function startEmbeddedWebPubSub(opts: EmbeddedWebPubSubOptions): Promise<EmbeddedWebPubSub> {
  if (!opts.accessKey) throw new Error('startEmbeddedWebPubSub: accessKey is required');
  const host = opts.host ?? '127.0.0.1';
  const server = opts.tls
    ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert })
    : http.createServer();
  // Keep REST connections of the SDK's pooled agent alive between calls.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  const endpoint = `${opts.tls ? 'https' : 'http'}://${urlHost}:${port}`;

  const meter = new BillingMeter();
  const upstream = new UpstreamClient(
    opts.eventHandlers ?? [],
    `${urlHost}:${port}`,
    { timeoutMs: 5000 },
    meter,
  );
  // Sessions only end after start-up, so the callback never sees `live` uninitialised.
  const hubs = new HubRegistry(
    { onSessionEnded: (session, reason) => live.onSessionEnded(session, reason) },
    meter,
  );
  const live = new ClientConnections(hubs, upstream, {
    accessKey: opts.accessKey,
    limits: { ...DEFAULT_LIMITS, ...opts.limits },
    recoveryWindowMs: opts.recoveryWindowMs ?? 30_000,
    keepAliveIntervalMs: opts.keepAliveIntervalMs ?? 30_000,
    maxPayloadBytes: MAX_MESSAGE_BYTES,
  });
  const calls = new Map<string, number>();
  server.on(
    'request',
    createRestHandler({
      hubs,
      connections: live,
      verifier: new RestTokenVerifier(opts.accessKey),
      ...(opts.entra
        ? {
            entra: new EntraTokenVerifier({
              jwksUri: opts.entra.jwksUri,
              issuers: opts.entra.issuers,
              audiences: opts.entra.audiences ?? [WEBPUBSUB_TOKEN_AUDIENCE],
            }),
          }
        : {}),
      disableLocalAuth: opts.disableLocalAuth === true,
      calls,
      accessKey: opts.accessKey,
      endpoint,
      maxBodyBytes: MAX_MESSAGE_BYTES,
    }),
  );
  server.on('upgrade', (req, socket, head: Buffer) => live.handleUpgrade(req, socket, head));

  let closing: Promise<void> | undefined;
  return {
    endpoint,
    connectionString: `Endpoint=${endpoint};AccessKey=${opts.accessKey};Version=1.0;`,
    port,
    stats() {
      let count = 0;
      let groups = 0;
      for (const hub of hubs.values()) {
        count += hub.sessions.size;
        groups += hub.groupCount;
      }
      return { connections: count, groups };
    },
    billing: () => meter.snapshot(),
    resetBilling: () => meter.reset(),
    dropSocket: (connectionId) => live.dropSocket(connectionId),
    restCalls: (route) => calls.get(route) ?? 0,
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await live.shutdown();
        // Lets the disconnected events of the sessions just ended reach the upstream (bounded).
        await upstream.close();
        server.closeAllConnections();
        await stopped;
      })();
      return closing;
    },
  };
}
