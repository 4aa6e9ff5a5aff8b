/**
 * Every setting the app reads, validated once at start-up. A missing or malformed setting stops
 * the app with one message listing every problem, instead of failing later on first use.
 * Secrets (connection strings, the token secret) are never logged.
 *
 * Cosmos DB and Web PubSub connect either with a key (connection string: the embedded stack, the
 * emulator, accounts with local auth on) or with a Microsoft Entra identity, named the way the
 * Functions host names identity-based connections (`<prefix>__accountEndpoint`, `__credential`,
 * `__clientId`), so the change-feed trigger and the SDK read one and the same settings.
 */
import { entraIssuers, entraJwksUri } from './entra';

/**
 * How to get Entra tokens: `default` = DefaultAzureCredential (environment, workload identity,
 * managed identity, az login…); `managedidentity` = ManagedIdentityCredential only, with the
 * user-assigned identity's client id when given (what the Functions host does for the same setting).
 */
export interface IdentitySettings {
  credential: 'default' | 'managedidentity';
  clientId?: string;
}

export interface CosmosSettings {
  /**
   * Prefix of the app settings of the connection: the connection string itself, or
   * `<prefix>__accountEndpoint` etc. (the trigger binding is given this name and finds either).
   */
  connectionSetting: string;
  endpoint: string;
  /** The account key; '' when an identity is used. */
  key: string;
  /** Set when connecting with an Entra identity instead of a key. */
  identity?: IdentitySettings;
  database: string;
  eventsContainer: string;
  meetingsContainer: string;
  leasesContainer: string;
  createIfNotExists: boolean;
}

export interface RateLimit {
  perSecond: number;
  burst: number;
}

/**
 * Token buckets. Per participant: `events` is charged per event, `requests` per other call. Per
 * meeting: `joins` (a flood of joins cannot fill a meeting in a second). Per client address:
 * `joinFailures`, charged by each wrong join code or unknown meeting, so codes cannot be guessed.
 */
export interface RateLimits {
  events: RateLimit;
  requests: RateLimit;
  joins: RateLimit;
  joinFailures: RateLimit;
}

export const DEFAULT_RATE_LIMITS: RateLimits = {
  events: { perSecond: 20, burst: 200 },
  requests: { perSecond: 5, burst: 30 },
  joins: { perSecond: 20, burst: 200 },
  joinFailures: { perSecond: 0.2, burst: 10 },
};

/** The delivery side: catch-up, long-poll, SSE and presence. */
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
  /** NCRONTAB schedule of the presence sweep timer. */
  presenceSweepSchedule: string;
  /**
   * Web PubSub access key for the upstream `ce-signature` check (from the connection string); ''
   * under an identity, where the service signs nothing and `eventHandlerEntra` is used instead.
   */
  webPubSubAccessKey: string;
  /**
   * With no access key: the Entra bearer token the hub sends (event-handler auth ManagedIdentity)
   * is checked against these. Undefined when an access key is configured.
   */
  eventHandlerEntra?: EntraSettings;
  /** Web PubSub endpoint host(s) allowed by the abuse-protection handshake. */
  webPubSubOrigins: string[];
  hub: string;
}

export interface EntraSettings {
  audiences: string[];
  issuers: string[];
  jwksUri: string;
  /** Only tokens issued to these clients (the hub's identity); unset = any client of the tenant. */
  clientIds?: string[];
}

export interface WebPubSubSettings {
  /** '' when an identity is used. */
  connectionString: string;
  /** The service endpoint (from the connection string or `WebPubSubConnection__endpoint`). */
  endpoint: string;
  identity?: IdentitySettings;
  hub: string;
}

export interface Config {
  cosmos: CosmosSettings;
  webPubSub: WebPubSubSettings;
  tokens: { secret: string; ttlMinutes: number };
  changeFeed: { pollDelayMs: number; maxItemsPerInvocation: number };
  retentionDays: number;
  /** NCRONTAB schedule of the tick that keeps windows moving in quiet meetings. */
  tickSchedule: string;
  rateLimits: RateLimits;
  delivery: DeliveryConfig;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`meetstream configuration is invalid:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export const COSMOS_CONNECTION_SETTING = 'CosmosDBConnection';
export const WEBPUBSUB_CONNECTION_SETTING = 'WebPubSubConnectionString';
/** Prefix of Web PubSub's identity settings (`__endpoint`, `__credential`, `__clientId`). */
export const WEBPUBSUB_IDENTITY_PREFIX = 'WebPubSubConnection';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];

  const text = (name: string, fallback?: string): string => {
    const v = env[name]?.trim();
    if (v) return v;
    if (fallback !== undefined) return fallback;
    problems.push(`${name} is required`);
    return '';
  };
  const number = (name: string, fallback: number, min: number, max: number, integer: boolean): number => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    const n = Number(raw);
    if (!(integer ? Number.isInteger(n) : Number.isFinite(n)) || n < min || n > max) {
      problems.push(
        `${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max} (got "${raw}")`,
      );
      return fallback;
    }
    return n;
  };
  const int = (name: string, fallback: number, min: number, max: number) =>
    number(name, fallback, min, max, true);
  const num = (name: string, fallback: number, min: number, max: number) =>
    number(name, fallback, min, max, false);
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = env[name]?.trim().toLowerCase();
    if (!raw) return fallback;
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    problems.push(`${name} must be true or false (got "${raw}")`);
    return fallback;
  };
  /** RATE_LIMIT_{name}_PER_SECOND and RATE_LIMIT_{name}_BURST. */
  const bucket = (name: string, fallback: RateLimit, minBurst = 1): RateLimit => ({
    perSecond: num(`RATE_LIMIT_${name}_PER_SECOND`, fallback.perSecond, 0.01, 1_000_000),
    burst: num(`RATE_LIMIT_${name}_BURST`, fallback.burst, minBurst, 1_000_000),
  });
  const schedule = (name: string, fallback: string): string => {
    const v = text(name, fallback);
    if (v.split(/\s+/).length !== 6) {
      problems.push(`${name} must be a six-field NCRONTAB expression (sec min hour day month dow)`);
    }
    return v;
  };
  const resourceName = (name: string, fallback: string): string => {
    const v = text(name, fallback);
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$/.test(v))
      problems.push(`${name} is not a valid Cosmos DB resource name`);
    return v;
  };

  const optional = (name: string): string | undefined => env[name]?.trim() || undefined;
  /** `<prefix>__credential` / `__clientId`, as the Functions host reads them. */
  const identity = (prefix: string): IdentitySettings => {
    const credential = optional(`${prefix}__credential`);
    const clientId = optional(`${prefix}__clientId`);
    if (credential !== undefined && credential.toLowerCase() !== 'managedidentity') {
      problems.push(
        `${prefix}__credential must be "managedidentity" or unset (unset = DefaultAzureCredential)`,
      );
    }
    if (clientId !== undefined && !GUID.test(clientId)) {
      problems.push(`${prefix}__clientId must be a client id (GUID) of a user-assigned managed identity`);
    }
    return {
      credential: credential?.toLowerCase() === 'managedidentity' ? 'managedidentity' : 'default',
      ...(clientId !== undefined ? { clientId } : {}),
    };
  };
  /** Entra tokens are only ever sent over TLS (the SDKs refuse bearer tokens on http). */
  const httpsEndpoint = (name: string): string => {
    const v = optional(name) ?? '';
    if (!/^https:\/\/[^\s/]+/.test(v)) {
      problems.push(`${name} must be an https:// URL (tokens are never sent over plain http)`);
    }
    return v;
  };

  // A connection string wins over identity settings of the same prefix, as in the Functions host
  // ("if the configured value is both an exact match … the exact match is used").
  const cosmosConnection = optional(COSMOS_CONNECTION_SETTING) ?? '';
  const cosmosIdentityEndpoint = optional(`${COSMOS_CONNECTION_SETTING}__accountEndpoint`);
  let endpoint = '';
  let key = '';
  let cosmosIdentity: IdentitySettings | undefined;
  if (cosmosConnection) {
    const cosmosParts = parseConnectionString(cosmosConnection);
    endpoint = cosmosParts.AccountEndpoint ?? '';
    key = cosmosParts.AccountKey ?? '';
    if (!isUrl(endpoint) || !key) {
      problems.push(
        `${COSMOS_CONNECTION_SETTING} must be a connection string "AccountEndpoint=https://…;AccountKey=…;"` +
          (cosmosConnection === 'embedded' ? ' ("embedded" is replaced only by npm start)' : ''),
      );
    }
  } else if (cosmosIdentityEndpoint !== undefined) {
    endpoint = httpsEndpoint(`${COSMOS_CONNECTION_SETTING}__accountEndpoint`);
    cosmosIdentity = identity(COSMOS_CONNECTION_SETTING);
  } else {
    problems.push(
      `${COSMOS_CONNECTION_SETTING} (connection string) or ${COSMOS_CONNECTION_SETTING}__accountEndpoint (identity) is required`,
    );
  }

  const wpsConnection = optional(WEBPUBSUB_CONNECTION_SETTING) ?? '';
  const wpsIdentityEndpoint = optional(`${WEBPUBSUB_IDENTITY_PREFIX}__endpoint`);
  const wpsParts = parseConnectionString(wpsConnection);
  let wpsEndpoint = '';
  let wpsIdentity: IdentitySettings | undefined;
  if (wpsConnection) {
    wpsEndpoint = wpsParts.Endpoint ?? '';
    if (!isUrl(wpsEndpoint) || !wpsParts.AccessKey) {
      problems.push(
        `${WEBPUBSUB_CONNECTION_SETTING} must be a connection string "Endpoint=https://…;AccessKey=…;Version=1.0;"` +
          (wpsConnection === 'embedded' ? ' ("embedded" is replaced only by npm start)' : ''),
      );
    }
  } else if (wpsIdentityEndpoint !== undefined) {
    wpsEndpoint = httpsEndpoint(`${WEBPUBSUB_IDENTITY_PREFIX}__endpoint`);
    wpsIdentity = identity(WEBPUBSUB_IDENTITY_PREFIX);
  } else {
    problems.push(
      `${WEBPUBSUB_CONNECTION_SETTING} (connection string) or ${WEBPUBSUB_IDENTITY_PREFIX}__endpoint (identity) is required`,
    );
  }
  const accessKey = wpsConnection ? (wpsParts.AccessKey ?? '') : '';

  // Without an access key the hub signs nothing; with event-handler auth "ManagedIdentity" it
  // sends an Entra token for the audience configured on the hub, which is checked instead.
  let eventHandlerEntra: EntraSettings | undefined;
  if (wpsIdentity !== undefined) {
    // WEBPUBSUB_UPSTREAM_* are the names infra/ sets; either name works.
    const audiences = list(optional('WEBPUBSUB_EVENT_HANDLER_AUDIENCE'));
    if (audiences.length === 0) {
      problems.push(
        'WEBPUBSUB_EVENT_HANDLER_AUDIENCE is required when Web PubSub has no access key: the event ' +
          "handler accepts only the hub's Entra token for this audience (the hub's event handler auth resource)",
      );
    }
    const tenant = optional('AZURE_TENANT_ID');
    if (tenant !== undefined && !/^[A-Za-z0-9][A-Za-z0-9.-]{0,127}$/.test(tenant)) {
      problems.push('AZURE_TENANT_ID must be a tenant id (GUID) or domain');
    }
    const clientIds = list(optional('WEBPUBSUB_EVENT_HANDLER_CLIENT_ID'));
    const jwksUri = optional('ENTRA_JWKS_URI') ?? (tenant ? entraJwksUri(tenant) : undefined);
    const issuers = optional('ENTRA_ISSUER')
      ? list(optional('ENTRA_ISSUER'))
      : tenant
        ? entraIssuers(tenant)
        : [];
    if (jwksUri === undefined || issuers.length === 0) {
      problems.push(
        'AZURE_TENANT_ID (or ENTRA_JWKS_URI and ENTRA_ISSUER) is required when Web PubSub has no access key: ' +
          "it names who issues the event handler's tokens",
      );
    } else if (!isUrl(jwksUri)) {
      problems.push('ENTRA_JWKS_URI must be an http(s) URL');
    }
    eventHandlerEntra = {
      audiences,
      issuers,
      jwksUri: jwksUri ?? '',
      ...(clientIds.length > 0 ? { clientIds } : {}),
    };
  }

  const hub = text('WEBPUBSUB_HUB', 'meetstream');
  if (!/^[A-Za-z][A-Za-z0-9_`,.[\]]{0,127}$/.test(hub))
    problems.push('WEBPUBSUB_HUB is not a valid hub name');

  const secret = text('MEETSTREAM_TOKEN_SECRET');
  if (secret && Buffer.byteLength(secret) < 32)
    problems.push('MEETSTREAM_TOKEN_SECRET must be at least 32 bytes');

  const config: Config = {
    cosmos: {
      connectionSetting: COSMOS_CONNECTION_SETTING,
      endpoint,
      key,
      ...(cosmosIdentity !== undefined ? { identity: cosmosIdentity } : {}),
      database: resourceName('COSMOS_DATABASE', 'meetstream'),
      eventsContainer: resourceName('COSMOS_EVENTS_CONTAINER', 'events'),
      meetingsContainer: resourceName('COSMOS_MEETINGS_CONTAINER', 'meetings'),
      leasesContainer: resourceName('COSMOS_LEASES_CONTAINER', 'leases'),
      // Data-plane RBAC cannot create databases or containers (403, substatus 5300): under an
      // identity they come from the infrastructure, and start-up only checks them.
      createIfNotExists: bool('COSMOS_CREATE_IF_NOT_EXISTS', cosmosIdentity === undefined),
    },
    webPubSub: {
      connectionString: wpsConnection,
      endpoint: wpsEndpoint,
      ...(wpsIdentity !== undefined ? { identity: wpsIdentity } : {}),
      hub,
    },
    tokens: { secret, ttlMinutes: int('PARTICIPANT_TOKEN_TTL_MINUTES', 240, 1, 7 * 24 * 60) },
    changeFeed: {
      pollDelayMs: int('CHANGE_FEED_POLL_DELAY_MS', 1000, 1, 60_000),
      maxItemsPerInvocation: int('CHANGE_FEED_MAX_ITEMS', 100, 1, 10_000),
    },
    retentionDays: int('EVENT_RETENTION_DAYS', 30, 1, 3650),
    tickSchedule: schedule('ANALYTICS_TICK_SCHEDULE', '*/2 * * * * *'),
    rateLimits: {
      // The events burst must hold a full batch (100 events).
      events: bucket('EVENTS', DEFAULT_RATE_LIMITS.events, 100),
      requests: bucket('REQUESTS', DEFAULT_RATE_LIMITS.requests),
      joins: bucket('JOINS', DEFAULT_RATE_LIMITS.joins),
      joinFailures: bucket('JOIN_FAILURES', DEFAULT_RATE_LIMITS.joinFailures),
    },

    delivery: {
      waitPollMs: int('EVENTS_WAIT_POLL_MS', 150, 20, 5000),
      sseMaxSeconds: int('SSE_MAX_SECONDS', 60, 1, 3600),
      sseHeartbeatSeconds: int('SSE_HEARTBEAT_SECONDS', 15, 1, 300),
      presenceGraceMs: int('PRESENCE_GRACE_MS', 10_000, 0, 3_600_000),
      presenceVerifyMs: int('PRESENCE_VERIFY_MS', 60_000, 1000, 86_400_000),
      presenceSweepSchedule: schedule('PRESENCE_SWEEP_SCHEDULE', '*/5 * * * * *'),
      webPubSubAccessKey: accessKey,
      ...(eventHandlerEntra !== undefined ? { eventHandlerEntra } : {}),
      webPubSubOrigins: webPubSubOrigins(wpsEndpoint, env.WEBPUBSUB_ALLOWED_ORIGINS),
      hub,
    },
  };
  if (problems.length) throw new ConfigError(problems);
  return config;
}

let cached: Config | undefined;
/** The process-wide configuration, read on first use (function modules call it at load time). */
export function getConfig(): Config {
  cached ??= readConfig();
  return cached;
}

export function parseConnectionString(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

/** The hub's own host (with and without port) plus any extra origins allowed by setting. */
function webPubSubOrigins(endpoint: string | undefined, extra: string | undefined): string[] {
  const origins: string[] = [];
  try {
    const url = new URL(endpoint ?? '');
    origins.push(url.host, url.hostname);
  } catch {
    // a malformed connection string is reported on its own
  }
  for (const o of extra?.split(',') ?? []) if (o.trim()) origins.push(o.trim());
  return [...new Set(origins)];
}

/** A comma-separated list, trimmed, empties dropped. */
function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

function isUrl(value: string): boolean {
  return /^https?:\/\/[^\s/]+/.test(value);
}
