/**
 * What the real Functions host (and the Cosmos DB extension v4) refuses in a function app's
 * registrations, as pure rules over the metadata `@azure/functions` hands the worker. The local
 * runner refuses to start on any violation, so `npm start` fails where a deploy would; the host
 * contract test (test/local/host-contract.test.ts) runs the same rules over the compiled app.
 *
 * Sources (commits and lines in ../shared/notes/azure-fidelity-audit.md, section 1):
 * - routes: ScriptHost.cs refuses a route template that, trimmed of '/' and lower-cased, starts
 *   with "admin" or "runtime" ("The specified route conflicts with one or more built in routes"),
 *   before the route prefix is applied; HttpRoutesConflict refuses two functions whose templates
 *   are the same and whose methods overlap.
 * - Cosmos DB trigger: the options of CosmosDBTriggerAttribute (extension v4). An unknown key is
 *   ignored by the extension, which is how a v3 name like `createLeaseCollectionIfNotExists`
 *   silently does nothing; refused here. The provider refuses a lease container equal to the
 *   monitored one.
 * - retry: the library turns milliseconds into whole seconds (`Math.round(ms / 1000)`); the host
 *   accepts 0 s and then retries back to back forever. Not a host refusal but a production outage,
 *   so refused here as well (and by the contract test).
 * - timers: NCRONTAB with six fields (seconds first) or a TimeSpan.
 */
import type { FunctionMetadata, RetryOptions, RpcBindingInfo } from './functionsCore';
import { Schedule } from './timerTrigger';

/** CosmosDBTriggerAttribute's settable properties (extension v4), in the worker's camelCase. */
export const COSMOS_TRIGGER_OPTIONS: ReadonlySet<string> = new Set([
  'connection',
  'databaseName',
  'containerName',
  'leaseConnection',
  'leaseDatabaseName',
  'leaseContainerName',
  'createLeaseContainerIfNotExists',
  'leasesContainerThroughput',
  'leaseContainerPrefix',
  'feedPollDelay',
  'leaseRenewInterval',
  'leaseAcquireInterval',
  'leaseExpirationInterval',
  'maxItemsPerInvocation',
  'startFromBeginning',
  'startFromTime',
  'preferredLocations',
  'changeFeedMode',
]);

/** Keys every binding carries that are the worker's, not the extension's. */
const BINDING_ENVELOPE: ReadonlySet<string> = new Set([
  'type',
  'direction',
  'name',
  'properties',
  'dataType',
]);

const RESERVED_ROUTE_PREFIXES = ['admin', 'runtime'];

export interface HostRuleViolation {
  function: string;
  message: string;
}

function triggerBinding(fn: FunctionMetadata): RpcBindingInfo | undefined {
  return Object.values(fn.bindings).find(
    (b) => b.direction === 'in' && typeof b.type === 'string' && b.type.endsWith('Trigger'),
  );
}

/** A route template with parameter names dropped, so `m/{id}` and `m/{meetingId}` compare equal. */
function routeShape(route: string): string {
  return route
    .trim()
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .map((s) => (s.startsWith('{') ? '{}' : s.toLowerCase()))
    .join('/');
}

/** Whole seconds of an RPC duration, as the host reads it. */
export function durationSeconds(
  d: { seconds?: number | string; nanos?: number } | undefined,
): number | undefined {
  if (!d) return undefined;
  return Number(d.seconds ?? 0) + (d.nanos ?? 0) / 1e9;
}

function retryViolations(retry: RetryOptions | undefined): string[] {
  if (!retry) return [];
  const problems: string[] = [];
  const intervals: Array<[string, RetryOptions['delayInterval']]> =
    retry.retryStrategy === 'fixedDelay'
      ? [['delayInterval', retry.delayInterval]]
      : [
          ['minimumInterval', retry.minimumInterval],
          ['maximumInterval', retry.maximumInterval],
        ];
  for (const [key, value] of intervals) {
    const seconds = durationSeconds(value);
    if (seconds === undefined) problems.push(`retry.${key} is missing`);
    else if (seconds < 1)
      problems.push(
        `retry.${key} reaches the host as ${seconds} s (the library rounds milliseconds to whole seconds); ` +
          `below 1 s a failing batch is retried back to back`,
      );
  }
  const min = durationSeconds(retry.minimumInterval);
  const max = durationSeconds(retry.maximumInterval);
  if (retry.retryStrategy !== 'fixedDelay' && min !== undefined && max !== undefined && min > max)
    problems.push('retry.minimumInterval is greater than retry.maximumInterval');
  return problems;
}

/** Every registration the host (or the extension behind it) would refuse, with the reason. */
export function hostRuleViolations(functions: readonly FunctionMetadata[]): HostRuleViolation[] {
  const violations: HostRuleViolation[] = [];
  const add = (fn: string, message: string) => violations.push({ function: fn, message });
  const routes: Array<{ fn: string; shape: string; methods: Set<string> }> = [];

  for (const fn of functions) {
    const trigger = triggerBinding(fn);
    if (!trigger) {
      add(fn.name, 'has no trigger binding');
      continue;
    }
    for (const problem of retryViolations(fn.retryOptions)) add(fn.name, problem);

    if (trigger.type === 'httpTrigger') {
      const route = typeof trigger.route === 'string' ? trigger.route : fn.name;
      const trimmed = route.replace(/^\/+|\/+$/g, '').toLowerCase();
      if (RESERVED_ROUTE_PREFIXES.some((p) => trimmed.startsWith(p)))
        add(
          fn.name,
          `route "${route}": The specified route conflicts with one or more built in routes ` +
            `(the host refuses routes starting with "admin" or "runtime"; the function would not be registered)`,
        );
      const methods = new Set(
        (Array.isArray(trigger.methods) ? (trigger.methods as string[]) : ['GET', 'POST']).map((m) =>
          m.toUpperCase(),
        ),
      );
      const shape = routeShape(route);
      for (const other of routes) {
        const overlap = [...methods].filter((m) => other.methods.has(m));
        if (other.shape === shape && overlap.length > 0)
          add(fn.name, `route "${route}" [${overlap.join(',')}] conflicts with function "${other.fn}"`);
      }
      routes.push({ fn: fn.name, shape, methods });
    } else if (trigger.type === 'cosmosDBTrigger') {
      for (const key of Object.keys(trigger)) {
        if (!BINDING_ENVELOPE.has(key) && !COSMOS_TRIGGER_OPTIONS.has(key))
          add(fn.name, `cosmosDBTrigger option "${key}" is not one the Cosmos DB extension v4 accepts`);
      }
      for (const key of ['connection', 'databaseName', 'containerName'])
        if (typeof trigger[key] !== 'string' || trigger[key] === '')
          add(fn.name, `cosmosDBTrigger option "${key}" is required`);
      const leaseContainer = trigger.leaseContainerName ?? 'leases';
      const sameDatabase = (trigger.leaseDatabaseName ?? trigger.databaseName) === trigger.databaseName;
      const sameAccount = (trigger.leaseConnection ?? trigger.connection) === trigger.connection;
      if (sameDatabase && sameAccount && leaseContainer === trigger.containerName)
        add(fn.name, `the lease container must not be the monitored container ("${String(leaseContainer)}")`);
    } else if (trigger.type === 'timerTrigger') {
      try {
        new Schedule(String(trigger.schedule));
      } catch (err) {
        add(fn.name, `timer schedule: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
  return violations;
}

/** Throws one error listing every violation, the way the runner refuses to start. */
export function assertHostRules(functions: readonly FunctionMetadata[]): void {
  const violations = hostRuleViolations(functions);
  if (violations.length === 0) return;
  throw new Error(
    `The Functions host would refuse ${violations.length} registration problem(s):\n` +
      violations.map((v) => `  - ${v.function}: ${v.message}`).join('\n'),
  );
}

/**
 * The delay before retry number `attempt + 1`, as the host computes it from the registered
 * (whole-second) intervals: WebJobs' randomized exponential back-off, `min + (2^attempt − 1) ·
 * delta · r` with delta = min and r uniform in [0.8, 1.2], capped at max; fixed delay as given.
 */
export function hostRetryDelayMs(
  retry: RetryOptions,
  attempt: number,
  random: () => number = Math.random,
): number {
  if (retry.retryStrategy === 'fixedDelay') return (durationSeconds(retry.delayInterval) ?? 0) * 1000;
  const min = (durationSeconds(retry.minimumInterval) ?? 0) * 1000;
  const max = (durationSeconds(retry.maximumInterval) ?? 0) * 1000;
  const r = 0.8 + 0.4 * random();
  return Math.min(max, min + (2 ** attempt - 1) * min * r);
}
