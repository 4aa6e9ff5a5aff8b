/**
 * Starts the local stack's services as child processes and waits for each one's ready line (one
 * JSON object with `"ready": true` on stdout). Used by `npm start`, the tests and the benchmarks,
 * so every one of them runs the same processes the same way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as readline from 'node:readline';

export interface ServiceInfo {
  service: string;
  ready: true;
  port: number;
  endpoint?: string;
  url?: string;
}

export interface ChildService {
  name: string;
  info: ServiceInfo;
  child: ChildProcess;
  /** Resolves with the exit code when the process ends, however it ends. */
  exited: Promise<number | null>;
  /** True until the process has exited. */
  alive(): boolean;
  /** SIGTERM (clean shutdown), then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL: a crash, as far as the service can tell. */
  kill(): Promise<void>;
}

export interface SpawnOptions {
  name: string;
  script: string;
  args?: string[];
  env: NodeJS.ProcessEnv;
  /** Receives every output line except the ready line. Default: discard. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  readyTimeoutMs?: number;
  nodeArgs?: string[];
}

export function spawnService(opts: SpawnOptions): Promise<ChildService> {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.script, ...(opts.args ?? [])], {
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise<ChildService>((resolve, reject) => {
    let ready = false;
    const recent: string[] = [];
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${opts.name} did not become ready in time:\n${recent.join('\n')}`));
    }, opts.readyTimeoutMs ?? 30_000);
    const onLine = (stream: 'stdout' | 'stderr') => (line: string) => {
      if (!ready && stream === 'stdout' && line.startsWith('{') && line.includes('"ready"')) {
        try {
          const info = JSON.parse(line) as ServiceInfo;
          if (info.ready) {
            ready = true;
            clearTimeout(timer);
            resolve(service(opts.name, info, child, exited));
            return;
          }
        } catch {
          // not the ready line
        }
      }
      recent.push(line);
      if (recent.length > 40) recent.shift();
      opts.onLine?.(line, stream);
    };
    readline.createInterface({ input: child.stdout! }).on('line', onLine('stdout'));
    readline.createInterface({ input: child.stderr! }).on('line', onLine('stderr'));
    void exited.then((code) => {
      if (ready) return;
      clearTimeout(timer);
      reject(new Error(`${opts.name} exited with code ${code} before it was ready:\n${recent.join('\n')}`));
    });
  });
}

function service(
  name: string,
  info: ServiceInfo,
  child: ChildProcess,
  exited: Promise<number | null>,
): ChildService {
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    name,
    info,
    child,
    exited,
    alive,
    async stop(graceMs = 5000) {
      if (!alive()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (!alive()) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}
