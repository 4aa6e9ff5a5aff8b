/**
 * The embedded stack as the benchmarks run it: the same three child processes `npm start` runs
 * (local/stack.ts), on ephemeral loopback ports, data in a temp folder that is removed afterwards.
 * With `profileDir`, every service writes a V8 CPU profile there when it exits.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startStack, type Stack } from '../../local/stack';

export const repoRoot = path.resolve(__dirname, '..', '..', '..');

export interface BenchStack extends Stack {
  dataDir: string;
  /** Last lines of every service (for failure reports). */
  logs: string[];
  pids(): Record<string, number | undefined>;
  cleanup(): Promise<void>;
}

export interface BenchStackOptions {
  settings?: Record<string, string>;
  /** Extra environment for the services only (e.g. COSMOS_FAULTS). */
  env?: Record<string, string>;
  profileDir?: string;
  verbose?: boolean;
  /** The change-feed / timer functions in their own runner process (local/stack.ts). */
  separateProcessor?: boolean;
}

export async function startBenchStack(opts: BenchStackOptions = {}): Promise<BenchStack> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meetstream-bench-'));
  const logs: string[] = [];
  // startStack hands process.env to its children: set what only they should see, then restore.
  const saved = { ...process.env };
  Object.assign(process.env, opts.env ?? {});
  if (opts.profileDir) {
    fs.mkdirSync(opts.profileDir, { recursive: true });
    process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --require ${path.join(__dirname, 'cpu-profile-preload.js')}`;
    process.env.BENCH_CPU_PROF_DIR = opts.profileDir;
  }
  let stack: Stack;
  try {
    stack = await startStack({
      appDir: repoRoot,
      dataDir,
      settings: {
        CosmosDBConnection: 'embedded',
        WebPubSubConnectionString: 'embedded',
        CHANGE_FEED_POLL_DELAY_MS: '5',
        ...opts.settings,
      },
      ports: { http: 0, cosmos: 0, webPubSub: 0 },
      separateProcessor: opts.separateProcessor,
      onLine: (service, line) => {
        logs.push(`[${service}] ${line}`);
        if (logs.length > 300) logs.shift();
        if (opts.verbose) console.error(`[${service}] ${line}`);
      },
    });
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
  return Object.assign(stack, {
    dataDir,
    logs,
    pids: () => ({
      runner: stack.runner?.child.pid,
      ...(stack.processor ? { processor: stack.processor.child.pid } : {}),
      cosmos: stack.cosmos?.child.pid,
      webpubsub: stack.webPubSub?.child.pid,
    }),
    async cleanup() {
      await stack.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  });
}
