/**
 * Settings of the delivery side (catch-up, long-poll, SSE, presence), validated once like
 * lib/config.ts. Kept here so the delivery code owns its knobs; every one has a safe default.
 */
import { ConfigError, parseConnectionString, type Config } from '../config';

export interface DeliveryConfig {
  /** Interval of the shared "anything new?" poll behind long-poll and SSE waits. */
  waitPollMs: number;
  /** Longest SSE response; the client (EventSource or ours) reconnects with Last-Event-ID. */
  sseMaxSeconds: number;
  /** SSE comment line interval, so proxies do not cut an idle stream. */
  sseHeartbeatSeconds: number;
  /** How long a participant with no live connection stays "connected" before `participant.away`. */
  presenceGraceMs: number;
  /** How often a participant believed connected (or recently away) is verified with the hub. */
  presenceVerifyMs: number;
  /** Web PubSub access key for the upstream `ce-signature` check (from the connection string). */
  webPubSubAccessKey: string;
  /** Web PubSub endpoint host(s) allowed by the abuse-protection handshake. */
  webPubSubOrigins: string[];
  hub: string;
}

export function readDeliveryConfig(config: Config, env: NodeJS.ProcessEnv = process.env): DeliveryConfig {
  const problems: string[] = [];
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return n;
  };
  const parts = parseConnectionString(config.webPubSub.connectionString);
  const origins: string[] = [];
  try {
    const endpoint = new URL(parts.Endpoint ?? '');
    origins.push(endpoint.host, endpoint.hostname);
  } catch {
    // readConfig already reported a malformed connection string
  }
  const extra = env.WEBPUBSUB_ALLOWED_ORIGINS?.split(',').map((o) => o.trim()) ?? [];
  const delivery: DeliveryConfig = {
    waitPollMs: int('EVENTS_WAIT_POLL_MS', 150, 20, 5000),
    sseMaxSeconds: int('SSE_MAX_SECONDS', 60, 1, 3600),
    sseHeartbeatSeconds: int('SSE_HEARTBEAT_SECONDS', 15, 1, 300),
    presenceGraceMs: int('PRESENCE_GRACE_MS', 10_000, 0, 3_600_000),
    presenceVerifyMs: int('PRESENCE_VERIFY_MS', 60_000, 1000, 86_400_000),
    webPubSubAccessKey: parts.AccessKey ?? '',
    webPubSubOrigins: [...new Set([...origins, ...extra.filter(Boolean)])],
    hub: config.webPubSub.hub,
  };
  if (problems.length) throw new ConfigError(problems);
  return delivery;
}
