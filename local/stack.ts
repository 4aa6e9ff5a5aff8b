/**
 * The embedded local stack: embedded Cosmos DB, embedded Web PubSub and the functions runner,
 * each in its own process (as in production, where they are separate services, and so each gets
 * a core of its own). Settings whose value is "embedded" are replaced with the embedded
 * service's connection string; any other value (a real account, the Cosmos DB emulator) is used
 * as is and that embedded service is not started.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { readRoutePrefix } from './runner/settings';
import { spawnService, type ChildService } from './supervisor';

export const EMBEDDED = 'embedded';
const COSMOS_KEY = 'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU9DXHkdnWVSKjFjXuvpwbn+PUuw6qd2t5kzi1sP1C6iu1v5g==';

export interface StackOptions {
  /** The function app (folder with package.json, host.json and the compiled functions). */
  appDir: string;
  dataDir: string;
  /** Settings for the app (local.settings values); "embedded" connection strings are filled in. */
  settings: Record<string, string>;
  ports?: { http?: number; cosmos?: number; webPubSub?: number };
  onLine?: (service: string, line: string) => void;
  /**
   * Point the embedded Web PubSub's event handler (connected/disconnected CloudEvents) at the
   * runner's upstream function, as the hub's settings do on Azure. Default true.
   */
  eventHandler?: boolean;
  /**
   * Run the change-feed and timer functions in a second runner process ("processor"), so HTTP
   * ingest and processing each get a core. Default false: one runner process serves everything.
   */
  separateProcessor?: boolean;
  /**
   * Local diagnostics: start the runner(s) with --expose-gc and RUNNER_HEAP_PROBE=1, so SIGUSR2
   * makes them run a full GC and print their memory (local/runner/main.ts). Default false.
   */
  heapProbe?: boolean;
}

/** The app's Web PubSub upstream route (functions/webPubSubEvents.ts). */
export const WEBPUBSUB_EVENTS_ROUTE = 'webpubsub/events';

/** A free loopback port, so the hub can be told the runner's address before the runner starts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export interface Stack {
  apiUrl: string;
  cosmos?: ChildService;
  webPubSub?: ChildService;
  runner: ChildService;
  /** The change-feed / timer runner, when started separately (StackOptions.separateProcessor). */
  processor?: ChildService;
  /** The environment the runner was started with (connection strings included). */
  env: Record<string, string>;
  /** Starts the runner; with separateProcessor it serves HTTP only, and starts the processor too if that is not running. */
  startRunner(): Promise<ChildService>;
  /** Starts the separate processor runner (separateProcessor only). */
  startProcessor(): Promise<ChildService>;
  startCosmos(): Promise<ChildService>;
  startWebPubSub(): Promise<ChildService>;
  stop(): Promise<void>;
}

const dist = path.resolve(__dirname);

/** A secret kept in the data folder, so tokens and client URLs stay valid across restarts. */
export function persistentSecret(dataDir: string, name: string, bytes = 32): string {
  const file = path.join(dataDir, name);
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  fs.mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(bytes).toString('base64');
  fs.writeFileSync(file, secret, { mode: 0o600 });
  return secret;
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const env: Record<string, string> = { ...opts.settings };
  const log = (name: string) => (line: string) => opts.onLine?.(name, line);
  const baseEnv = { ...process.env, MEETSTREAM_DATA_DIR: opts.dataDir };
  const probe = opts.heapProbe
    ? { nodeArgs: ['--expose-gc'], env: { RUNNER_HEAP_PROBE: '1' } }
    : { nodeArgs: undefined, env: {} };

  const wantCosmos = !env.CosmosDBConnection || env.CosmosDBConnection === EMBEDDED;
  const wantWebPubSub = !env.WebPubSubConnectionString || env.WebPubSubConnectionString === EMBEDDED;
  if (!env.MEETSTREAM_TOKEN_SECRET)
    env.MEETSTREAM_TOKEN_SECRET = persistentSecret(opts.dataDir, 'token-secret');
  const wpsKey = persistentSecret(opts.dataDir, 'webpubsub-access-key');

  // Ports are pinned after the first start so a restarted service keeps its address.
  const ports = {
    http: opts.ports?.http ?? 7071,
    cosmos: opts.ports?.cosmos ?? 8081,
    webPubSub: opts.ports?.webPubSub ?? 8088,
  };

  // The hub calls the runner (event handler) and the runner calls the hub (REST): the hub needs the
  // runner's port first, so an ephemeral runner port is chosen here rather than by the runner.
  const wantEventHandler = wantWebPubSub && opts.eventHandler !== false;
  if (wantEventHandler && ports.http === 0) ports.http = await freePort();
  const prefix = readRoutePrefix(opts.appDir).replace(/^\/+|\/+$/g, '');
  const eventHandlerUrl = () =>
    `http://127.0.0.1:${ports.http}/${[prefix, WEBPUBSUB_EVENTS_ROUTE].filter(Boolean).join('/')}`;
  const hubName = env.WEBPUBSUB_HUB || 'meetstream';

  const stack: Stack = {
    apiUrl: '',
    env,
    runner: undefined as unknown as ChildService,
    async startCosmos() {
      const svc = await spawnService({
        name: 'cosmos',
        script: path.join(dist, 'cosmos', 'main.js'),
        env: {
          ...baseEnv,
          COSMOS_PORT: String(ports.cosmos),
          // Several physical ranges (as a container has on Azure once it grows) are opt-in: with 4,
          // the chaos suite failed 2 of 4 full-suite runs (a client not catching up), unexplained.
          COSMOS_PARTITION_RANGES: env.COSMOS_PARTITION_RANGES ?? '1',
        },
        onLine: log('cosmos'),
      });
      ports.cosmos = svc.info.port;
      env.CosmosDBConnection = `AccountEndpoint=http://127.0.0.1:${ports.cosmos}/;AccountKey=${COSMOS_KEY};`;
      stack.cosmos = svc;
      return svc;
    },
    async startWebPubSub() {
      const svc = await spawnService({
        name: 'webpubsub',
        script: path.join(dist, 'webpubsub', 'main.js'),
        env: {
          ...baseEnv,
          WEBPUBSUB_PORT: String(ports.webPubSub),
          WEBPUBSUB_ACCESS_KEY: wpsKey,
          ...(wantEventHandler
            ? {
                WEBPUBSUB_EVENT_HANDLER: `${hubName}=${eventHandlerUrl()}`,
                // As the hub must be configured on Azure: `connect` refuses removed participants.
                WEBPUBSUB_EVENT_HANDLER_SYSTEM_EVENTS: 'connect,connected,disconnected',
              }
            : {}),
        },
        onLine: log('webpubsub'),
      });
      ports.webPubSub = svc.info.port;
      env.WebPubSubConnectionString = `Endpoint=http://127.0.0.1:${ports.webPubSub};AccessKey=${wpsKey};Version=1.0;`;
      stack.webPubSub = svc;
      return svc;
    },
    async startRunner() {
      const split = opts.separateProcessor === true;
      const svc = await spawnService({
        name: 'runner',
        script: path.join(dist, 'runner', 'main.js'),
        args: [opts.appDir],
        nodeArgs: probe.nodeArgs,
        env: {
          ...baseEnv,
          ...env,
          ...probe.env,
          PORT: String(ports.http),
          ...(split ? { RUNNER_TRIGGERS: 'http' } : {}),
        },
        onLine: log('runner'),
      });
      ports.http = svc.info.port;
      stack.apiUrl = `http://127.0.0.1:${ports.http}/api`;
      stack.runner = svc;
      if (split && !stack.processor?.alive()) await stack.startProcessor();
      return svc;
    },
    async startProcessor() {
      const svc = await spawnService({
        name: 'processor',
        script: path.join(dist, 'runner', 'main.js'),
        args: [opts.appDir],
        nodeArgs: probe.nodeArgs,
        env: { ...baseEnv, ...env, ...probe.env, PORT: '0', RUNNER_TRIGGERS: 'cosmosDB,timer' },
        onLine: log('processor'),
      });
      stack.processor = svc;
      return svc;
    },
    async stop() {
      await Promise.all([stack.runner?.stop(), stack.processor?.stop()]);
      await Promise.all([stack.webPubSub?.stop(), stack.cosmos?.stop()]);
    },
  };

  try {
    await Promise.all([
      wantCosmos ? stack.startCosmos() : undefined,
      wantWebPubSub ? stack.startWebPubSub() : undefined,
    ]);
    await stack.startRunner();
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return stack;
}
