/**
 * The compiled app against what the real Functions host enforces. Each load runs in its own
 * process (as the worker does: the library registers into a process-wide registry), requiring
 * dist/functions/*.js through the real `@azure/functions` with the runner's recording
 * `@azure/functions-core`, in several shuffled file orders.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { FunctionMetadata } from '../../local/runner/functionsCore';
import { hostRetryDelayMs, hostRuleViolations } from '../../local/runner/hostRules';
import { spawnService } from '../../local/supervisor';
import { waitUntil } from '../support/stack';

const run = promisify(execFile);
const repoRoot = path.resolve(__dirname, '..', '..', '..');
const describeApp = path.resolve(__dirname, '..', '..', 'local', 'runner', 'describeApp.js');
const runnerMain = path.resolve(__dirname, '..', '..', 'local', 'runner', 'main.js');

/** Settings for an account nobody listens on: loading must not need the network. */
const SETTINGS = {
  CosmosDBConnection: 'AccountEndpoint=http://127.0.0.1:9/;AccountKey=dGVzdC1rZXk=;',
  WebPubSubConnectionString: 'Endpoint=http://127.0.0.1:9;AccessKey=dGVzdC1rZXk=;Version=1.0;',
  MEETSTREAM_TOKEN_SECRET: 'contract-test-secret-of-at-least-32-bytes',
};

interface Description {
  order: string[];
  functions: FunctionMetadata[];
  hooks: Record<string, number>;
  httpStream: boolean;
  violations: Array<{ function: string; message: string }>;
}

async function describe_(seed?: number): Promise<Description> {
  const args = [describeApp, repoRoot, ...(seed === undefined ? [] : [`--shuffle=${seed}`])];
  const { stdout } = await run(process.execPath, args, {
    env: { PATH: process.env.PATH, ...SETTINGS },
    timeout: 30_000,
  });
  return JSON.parse(stdout) as Description;
}

const byName = (fns: FunctionMetadata[]) => [...fns].sort((a, b) => a.name.localeCompare(b.name));

describe('the compiled app against the Functions host contract', () => {
  let sorted: Description;

  beforeAll(async () => {
    sorted = await describe_();
  }, 60_000);

  test('the app breaks none of the host rules', () => {
    expect(sorted.functions.length).toBeGreaterThan(15);
    expect(sorted.violations).toEqual([]);
  });

  test('every file order registers the same functions, hooks and HTTP streaming', async () => {
    for (const seed of [1, 7, 42]) {
      const shuffledRun = await describe_(seed);
      expect(shuffledRun.order).not.toEqual(sorted.order);
      expect(byName(shuffledRun.functions)).toEqual(byName(sorted.functions));
      expect(shuffledRun.hooks).toEqual(sorted.hooks);
      expect(shuffledRun.httpStream).toBe(true);
    }
  }, 120_000);

  test('retry intervals reach the host as whole seconds of at least one', () => {
    const withRetry = sorted.functions.filter((f) => f.retryOptions);
    expect(withRetry.map((f) => f.name)).toContain('processEvents');
    for (const f of withRetry) {
      expect(Number(f.retryOptions?.minimumInterval?.seconds)).toBeGreaterThanOrEqual(1);
      expect(Number(f.retryOptions?.maximumInterval?.seconds)).toBeGreaterThanOrEqual(
        Number(f.retryOptions?.minimumInterval?.seconds),
      );
    }
  });

  test('missing settings stop the load with every setting named and no value printed', async () => {
    const failure = await run(process.execPath, [describeApp, repoRoot], {
      env: {
        PATH: process.env.PATH,
        WebPubSubConnectionString: 'Endpoint=http://x;AccessKey=c2VjcmV0LXZhbHVl;',
      },
      timeout: 30_000,
    }).then(
      () => undefined,
      (err: { stderr?: string; code?: number }) => err,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain('CosmosDBConnection');
    expect(failure?.stderr).toContain('MEETSTREAM_TOKEN_SECRET is required');
    expect(failure?.stderr).not.toContain('c2VjcmV0LXZhbHVl');
  }, 60_000);

  test('the runner starts while Cosmos DB is unreachable: the appStart hook logs instead of failing the worker', async () => {
    const lines: string[] = [];
    const svc = await spawnService({
      onLine: (line) => lines.push(line),
      name: 'runner',
      script: runnerMain,
      args: [repoRoot],
      env: { ...process.env, ...SETTINGS, PORT: '0', RUNNER_TRIGGERS: 'http' },
      readyTimeoutMs: 60_000,
    });
    try {
      const res = await fetch(`http://127.0.0.1:${svc.info.port}/api/health`);
      // Health answers (degraded: the database is unreachable) instead of the worker being down.
      expect(res.status).toBeGreaterThanOrEqual(200);
      await waitUntil(() => lines.some((l) => l.includes('start-up check failed')), 30_000);
      expect(lines.join('\n')).toContain('start-up check failed (handlers will retry)');
    } finally {
      await svc.stop();
    }
  }, 90_000);

  describe('the rules refuse what the host refuses', () => {
    const mutate = (change: (fns: FunctionMetadata[]) => void) => {
      const copy = JSON.parse(JSON.stringify(sorted.functions)) as FunctionMetadata[];
      change(copy);
      return hostRuleViolations(copy).map((v) => `${v.function}: ${v.message}`);
    };
    const fn = (fns: FunctionMetadata[], name: string) => fns.find((f) => f.name === name)!;
    const trigger = (f: FunctionMetadata) => Object.values(f.bindings).find((b) => b.direction === 'in')!;

    test('a route starting with admin or runtime', () => {
      expect(mutate((f) => (trigger(fn(f, 'getMeeting')).route = '/Admin/meetings/{meetingId}'))).toEqual([
        expect.stringContaining(
          'getMeeting: route "/Admin/meetings/{meetingId}": The specified route conflicts',
        ),
      ]);
      expect(mutate((f) => (trigger(fn(f, 'getMeeting')).route = 'runtimeinfo'))).toHaveLength(1);
    });

    test('two functions with the same route and an overlapping method', () => {
      const problems = mutate((f) => {
        trigger(fn(f, 'getSummary')).route = trigger(fn(f, 'getMeeting')).route;
      });
      expect(problems).toEqual([expect.stringMatching(/conflicts with function "getMeeting"|"getSummary"/)]);
    });

    test('a Cosmos DB trigger option the extension does not know (a v3 name)', () => {
      expect(
        mutate((f) => (trigger(fn(f, 'processEvents')).createLeaseCollectionIfNotExists = true)),
      ).toEqual([
        'processEvents: cosmosDBTrigger option "createLeaseCollectionIfNotExists" is not one the Cosmos DB extension v4 accepts',
      ]);
    });

    test('a lease container that is the monitored container', () => {
      const problems = mutate((f) => {
        const t = trigger(fn(f, 'processEvents'));
        t.leaseContainerName = t.containerName;
      });
      expect(problems).toEqual([
        expect.stringContaining('lease container must not be the monitored container'),
      ]);
    });

    test('a retry interval below one second and a five-field timer schedule', () => {
      expect(
        mutate((f) => {
          fn(f, 'processEvents').retryOptions!.minimumInterval = { seconds: 0 };
        }),
      ).toEqual([expect.stringContaining('retry.minimumInterval reaches the host as 0 s')]);
      const timer = sorted.functions.find((f) => trigger(f).type === 'timerTrigger');
      expect(timer).toBeDefined();
      expect(mutate((f) => (trigger(fn(f, timer!.name)).schedule = '*/5 * * * *'))).toEqual([
        expect.stringContaining('must have 6 NCRONTAB fields'),
      ]);
    });
  });
});

describe('retry back-off as the host computes it', () => {
  const exponential = {
    retryStrategy: 'exponentialBackoff' as const,
    minimumInterval: { seconds: 1 },
    maximumInterval: { seconds: 60 },
  };

  test('grows from the minimum with bounded jitter and stops at the maximum', () => {
    expect(hostRetryDelayMs(exponential, 0, () => 0.5)).toBe(1000);
    expect(hostRetryDelayMs(exponential, 1, () => 0)).toBe(1800);
    expect(hostRetryDelayMs(exponential, 1, () => 1)).toBe(2200);
    expect(hostRetryDelayMs(exponential, 3, () => 0.5)).toBe(8000);
    expect(hostRetryDelayMs(exponential, 20, () => 0.5)).toBe(60_000);
  });

  test('a zero-second minimum means no delay at all, which is why the rules refuse it', () => {
    const zero = { ...exponential, minimumInterval: { seconds: 0 } };
    expect([0, 1, 5].map((n) => hostRetryDelayMs(zero, n))).toEqual([0, 0, 0]);
  });

  test('fixed delay waits the given whole seconds', () => {
    expect(hostRetryDelayMs({ retryStrategy: 'fixedDelay', delayInterval: { seconds: 2 } }, 4)).toBe(2000);
  });
});
