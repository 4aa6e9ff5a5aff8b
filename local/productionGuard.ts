/**
 * `npm start` and `npm run start:func` run the change-feed function and the timers on this
 * machine. Pointed at a production account they would be a second consumer beside Azure's (its
 * own leases, pushes and presence run twice), so they refuse unless told, and then warn loudly.
 */
import { parseConnectionString } from '../lib/config';

export const ALLOW_REMOTE_SETTING = 'MEETSTREAM_ALLOW_REMOTE_ACCOUNTS';

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '::1', '[::1]', '0.0.0.0', 'host.docker.internal']);

function hostOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

const isLocal = (host: string) =>
  LOCAL_HOSTS.has(host) || host.startsWith('127.') || host.endsWith('.localhost');

/** The settings that point at an account that is not on this machine (never prints a key). */
export function remoteAccounts(values: Record<string, string | undefined>): string[] {
  const found: string[] = [];
  const check = (setting: string, url: string | undefined) => {
    const host = hostOf(url);
    if (host !== undefined && !isLocal(host)) found.push(`${setting} points at ${host}`);
  };
  const cosmos = values.CosmosDBConnection?.trim();
  if (cosmos && cosmos !== 'embedded')
    check('CosmosDBConnection', parseConnectionString(cosmos).AccountEndpoint);
  const wps = values.WebPubSubConnectionString?.trim();
  if (wps && wps !== 'embedded') check('WebPubSubConnectionString', parseConnectionString(wps).Endpoint);
  // Identity settings only take effect when the connection string is absent; the local stack fills
  // that in with the embedded service, but a user who set them clearly meant the real account.
  check('CosmosDBConnection__accountEndpoint', values.CosmosDBConnection__accountEndpoint?.trim());
  check('WebPubSubConnection__endpoint', values.WebPubSubConnection__endpoint?.trim());
  return found;
}

/** Throws (refusal) or warns; returns normally when everything is local. */
export function guardAgainstProduction(
  command: string,
  values: Record<string, string | undefined>,
  env: NodeJS.ProcessEnv = process.env,
  warn: (line: string) => void = (line) => console.warn(line),
): void {
  const remote = remoteAccounts(values);
  if (remote.length === 0) return;
  const why =
    `${command} runs the change-feed function and the timers here: against a deployed account it is ` +
    'a second consumer beside Azure (pushes and presence run twice, its own leases compete).';
  if (env[ALLOW_REMOTE_SETTING] !== '1') {
    throw new Error(
      `refusing to start: ${remote.join('; ')}.\n${why}\n` +
        `Use a development account, the embedded services ("embedded") or the emulator; ` +
        `or set ${ALLOW_REMOTE_SETTING}=1 if you really mean it (use your own COSMOS_LEASES_CONTAINER).`,
    );
  }
  const bar = '!'.repeat(78);
  for (const line of [bar, `WARNING: ${remote.join('; ')}.`, why, bar]) warn(line);
}
