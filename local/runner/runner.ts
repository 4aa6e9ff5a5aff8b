/**
 * The local functions runner: loads the compiled app exactly as the Functions host would and
 * serves its triggers (HTTP, Cosmos DB change feed, timer). One app per process, because the
 * library refuses to register a function name twice.
 */
import * as fs from 'node:fs';
import { ChangeFeedTrigger } from './changeFeedTrigger';
import { registry, runHooks } from './functionsCore';
import { assertHostRules } from './hostRules';
import { startHttpHost, type HttpHost } from './httpHost';
import { DEFAULT_SITE_DIR } from './staticSite';
import { triggerOf } from './invoke';
import { loadFunctionApp } from './loader';
import { readRoutePrefix } from './settings';
import { TimerTrigger } from './timerTrigger';

export interface RunnerOptions {
  appDir: string;
  host?: string;
  port?: number;
  functionKey?: string;
  /** The web app to serve at `/` (default: dist/web when it was built). */
  siteDir?: string;
  /** Browser origins allowed to call the API (`*` for any); none by default, as the host. */
  corsOrigins?: string[];
  instanceId: string;
  env?: NodeJS.ProcessEnv;
  log?: (message: string) => void;
  /**
   * Which trigger kinds this process serves (default all). Lets the local stack run the HTTP
   * functions and the change-feed / timer functions in separate processes (one core each); the
   * change-feed leases keep two processes from handling the same range.
   */
  triggers?: ReadonlySet<TriggerKind>;
}

export type TriggerKind = 'http' | 'cosmosDB' | 'timer';

/** The binding type of each trigger kind. */
const KIND_OF_TRIGGER: Record<string, TriggerKind> = {
  httpTrigger: 'http',
  cosmosDBTrigger: 'cosmosDB',
  timerTrigger: 'timer',
};

/** `RUNNER_TRIGGERS=http` / `cosmosDB,timer` (unset: all). */
export function parseTriggerKinds(value: string | undefined): Set<TriggerKind> | undefined {
  if (!value) return undefined;
  const kinds = new Set<TriggerKind>();
  for (const raw of value.split(',')) {
    const k = raw.trim();
    if (k === 'http' || k === 'cosmosDB' || k === 'timer') kinds.add(k);
    else if (k) throw new Error(`RUNNER_TRIGGERS: unknown trigger kind "${k}" (http, cosmosDB, timer)`);
  }
  return kinds;
}

export interface Runner {
  url: string;
  port: number;
  http: HttpHost;
  functions: Array<{ name: string; trigger: string; detail: string }>;
  close(): Promise<void>;
}

export async function startRunner(opts: RunnerOptions): Promise<Runner> {
  const log = opts.log ?? ((m: string) => console.log(m));
  registry.logSink = (level, category, message) => {
    if (level === 'error' || level === 'critical' || level === 'warning')
      log(`[${level}] ${category}: ${message}`);
    else if (process.env.RUNNER_VERBOSE) log(`[${level}] ${category}: ${message}`);
  };
  const app = await loadFunctionApp(opts.appDir);
  // Refuse what the Functions host refuses (reserved routes, unknown trigger options, ...), so a
  // registration that would not load on Azure does not run here either.
  assertHostRules(app.functions.map((f) => f.metadata));
  const serves = (kind: TriggerKind) => opts.triggers?.has(kind) ?? true;
  const http = await startHttpHost({
    // Without HTTP triggers the host still listens (the ready line names its port), answering 404.
    functions: serves('http') ? app.functions : [],
    routePrefix: readRoutePrefix(opts.appDir),
    host: opts.host ?? '127.0.0.1',
    port: opts.port ?? 7071,
    httpStreamUri: app.httpStreamUri,
    // RUNNER_STREAM_LOOPBACK=1 forwards every request over loopback, as the real host does.
    httpStreamServer: process.env.RUNNER_STREAM_LOOPBACK === '1' ? undefined : app.httpStreamServer,
    functionKey: opts.functionKey,
    siteDir: opts.siteDir ?? (fs.existsSync(DEFAULT_SITE_DIR) ? DEFAULT_SITE_DIR : undefined),
    corsOrigins: opts.corsOrigins,
    log,
  });

  // As on the real worker, a rejected appStart hook fails initialisation (there the host then
  // restarts the worker in a loop): the app's hooks must catch their own errors.
  try {
    await runHooks('appStart', { hookData: {}, functionAppDirectory: opts.appDir });
  } catch (err) {
    await http.close();
    throw new Error(
      `Worker initialisation failed: an appStart hook threw: ${err instanceof Error ? err.message : String(err)}`,
    );
  }

  const background: Array<ChangeFeedTrigger | TimerTrigger> = [];
  const functions: Runner['functions'] = [];
  for (const fn of app.functions) {
    const trigger = triggerOf(fn);
    const kind = KIND_OF_TRIGGER[trigger.type];
    if (kind && !serves(kind)) continue;
    if (trigger.type === 'httpTrigger') {
      const route = http.routes.find((r) => r.name === fn.metadata.name);
      functions.push({
        name: fn.metadata.name,
        trigger: 'http',
        detail: `[${route?.methods.join(',')}] ${route?.url}`,
      });
    } else if (trigger.type === 'cosmosDBTrigger') {
      const t = new ChangeFeedTrigger({ fn, env: opts.env ?? process.env, instanceId: opts.instanceId, log });
      background.push(t);
      functions.push({ name: fn.metadata.name, trigger: 'cosmosDB', detail: t.description });
    } else if (trigger.type === 'timerTrigger') {
      const t = new TimerTrigger(fn, log);
      background.push(t);
      functions.push({ name: fn.metadata.name, trigger: 'timer', detail: t.description });
    } else {
      log(`Skipping function "${fn.metadata.name}": trigger type ${trigger.type} is not supported locally.`);
    }
  }
  for (const b of background) b.start();

  return {
    url: http.url,
    port: http.port,
    http,
    functions,
    close: async () => {
      await Promise.all(background.map((b) => b.stop()));
      await runHooks('appTerminate', { hookData: {} }).catch(() => undefined);
      await http.close();
    },
  };
}
