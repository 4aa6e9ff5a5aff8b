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
  /**
   * With heapProbe: signals the runner or processor (SIGUSR2) to run a full GC and resolves with
   * the memory it prints then (bytes); undefined if it is not running or does not answer in time.
   */
  probeHeap(service: 'runner' | 'processor', timeoutMs?: number): Promise<HeapProbe | undefined>;
  cleanup(): Promise<void>;
}

/** What a runner started with heapProbe prints on SIGUSR2, after a full GC (bytes). */
export interface HeapProbe {
  gc: boolean;
  heapUsed: number;
  heapTotal: number;
  rss: number;
  external: number;
  arrayBuffers: number;
}

export interface BenchStackOptions {
  settings?: Record<string, string>;
  /** Extra environment for the services only (e.g. COSMOS_FAULTS). */
  env?: Record<string, string>;
  profileDir?: string;
  verbose?: boolean;
  /** The change-feed / timer functions in their own runner process (local/stack.ts). */
  separateProcessor?: boolean;
  /** Runners answer SIGUSR2 with their memory after a full GC (BenchStack.probeHeap). */
  heapProbe?: boolean;
}

export async function startBenchStack(opts: BenchStackOptions = {}): Promise<BenchStack> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meetstream-bench-'));
  const logs: string[] = [];
  const probeWaiters = new Map<string, Array<(p: HeapProbe) => void>>();
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
      heapProbe: opts.heapProbe,
      onLine: (service, line) => {
        if (line.startsWith('{"heapProbe":true')) {
          const waiters = probeWaiters.get(service) ?? [];
          probeWaiters.delete(service);
          try {
            const probe = JSON.parse(line) as HeapProbe;
            for (const w of waiters) w(probe);
          } catch {
            // a torn line: the waiters time out
          }
          return;
        }
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
    probeHeap(service: 'runner' | 'processor', timeoutMs = 5000) {
      const svc = service === 'runner' ? stack.runner : stack.processor;
      if (!opts.heapProbe || !svc || svc.child.exitCode !== null || svc.child.signalCode !== null)
        return Promise.resolve(undefined);
      return new Promise<HeapProbe | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), timeoutMs);
        const waiters = probeWaiters.get(service) ?? [];
        waiters.push((p) => {
          clearTimeout(timer);
          resolve(p);
        });
        probeWaiters.set(service, waiters);
        svc.child.kill('SIGUSR2');
      });
    },
    async cleanup() {
      await stack.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  });
}
