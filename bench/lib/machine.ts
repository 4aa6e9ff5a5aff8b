/**
 * Machine facts for results files, and per-process CPU / memory readings from /proc (Linux), so
 * a benchmark can say which process used the cores while it ran.
 */
import { readFileSync } from 'node:fs';
import * as os from 'node:os';

export interface MachineInfo {
  hostname: string;
  platform: string;
  kernel: string;
  cpuModel: string;
  cpus: number;
  memoryGiB: number;
  node: string;
  v8: string;
  loadAverage: number[];
  at: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    v8: process.versions.v8,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
    at: new Date().toISOString(),
  };
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds (user + system) the process has used so far; NaN if it is gone. */
export function cpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/** Resident set size in KiB; NaN if the process is gone. */
export function rssKiB(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Cores used by each named process between start() and stop(). */
export class CpuMeter {
  private start = new Map<string, number>();
  private t0 = 0;

  constructor(private readonly pids: () => Record<string, number | undefined>) {}

  begin(): void {
    this.t0 = performance.now();
    this.start = new Map(Object.entries(this.pids()).map(([name, pid]) => [name, cpuSeconds(pid)]));
  }

  /** Cores (1.0 = one core fully busy) per process, and their total. */
  end(): Record<string, number> {
    const seconds = (performance.now() - this.t0) / 1000;
    const out: Record<string, number> = {};
    let total = 0;
    for (const [name, pid] of Object.entries(this.pids())) {
      const used = cpuSeconds(pid) - (this.start.get(name) ?? NaN);
      const cores = Math.round((used / seconds) * 100) / 100;
      out[name] = cores;
      if (Number.isFinite(cores)) total += cores;
    }
    out.total = Math.round(total * 100) / 100;
    return out;
  }
}

/** Whole-machine busy fraction between two readings of /proc/stat (other users' load included). */
export function machineBusy(): () => number {
  const read = () => {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const n = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (n[3] ?? 0) + (n[4] ?? 0);
    const total = n.reduce((a, b) => a + b, 0);
    return { idle, total };
  };
  const a = read();
  return () => {
    const b = read();
    const total = b.total - a.total;
    return total > 0 ? Math.round((1 - (b.idle - a.idle) / total) * os.cpus().length * 100) / 100 : NaN;
  };
}
