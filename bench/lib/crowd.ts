/**
 * The driver's side of the participant processes (participants.ts): splits the participants over
 * a few processes (so the clients' work can use both cores and stays out of the load generator's
 * event loop), and merges their answers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { BenchParticipant } from './fleet';
import { merge, type Histogram } from './hdr';
import type { Command, ReportReply, StatusReply, VerifyReply } from './participants';

export interface CrowdReport {
  hist: Record<keyof ReportReply['hist'], Histogram>;
  deliveries: number;
  messages: number;
  /** Per load event, merged over processes: accepted (ms), latest live delivery (µs), live deliveries. */
  events: Map<string, { accepted: number; last: number; n: number }>;
}

export class Crowd {
  private constructor(private readonly children: ChildProcess[]) {}

  static async start(
    apiUrl: string,
    participants: BenchParticipant[],
    processes: number,
    prefix: string,
  ): Promise<{ crowd: Crowd; connectMs: number; failed: number }> {
    const script = path.join(__dirname, 'participants.js');
    const children = Array.from({ length: processes }, () =>
      fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    );
    const crowd = new Crowd(children);
    const t0 = performance.now();
    const replies = await Promise.all(
      children.map((child, i) =>
        crowd.ask<{ count: number; failed: number }>(child, {
          cmd: 'connect',
          apiUrl,
          participants: participants.filter((_, k) => k % processes === i),
          prefix,
        }),
      ),
    );
    return {
      crowd,
      connectMs: performance.now() - t0,
      failed: replies.reduce((a, r) => a + r.failed, 0),
    };
  }

  get pids(): number[] {
    return this.children.map((c) => c.pid ?? 0);
  }

  private ask<T>(child: ChildProcess, command: Command): Promise<T> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`participant process exited (${code})`));
      child.once('exit', onExit);
      child.once('message', (m: T) => {
        child.off('exit', onExit);
        resolve(m);
      });
      child.send(command);
    });
  }

  private all<T>(command: Command): Promise<T[]> {
    return Promise.all(this.children.map((c) => this.ask<T>(c, command)));
  }

  async reset(): Promise<void> {
    await this.all({ cmd: 'reset' });
  }

  /** Per meeting, the lowest contiguous seq any participant has; and participants connected. */
  async status(): Promise<{
    connected: number;
    catchingUp: number;
    reconnects: number;
    minSeq: Map<string, number>;
  }> {
    const replies = await this.all<StatusReply>({ cmd: 'status' });
    const minSeq = new Map<string, number>();
    for (const r of replies)
      for (const [m, s] of Object.entries(r.meetings))
        minSeq.set(m, Math.min(minSeq.get(m) ?? Infinity, s.min));
    return {
      connected: replies.reduce((a, r) => a + r.connected, 0),
      catchingUp: replies.reduce((a, r) => a + r.catchingUp, 0),
      reconnects: replies.reduce((a, r) => a + r.reconnects, 0),
      minSeq,
    };
  }

  async verify(accepted: Map<string, string[]>): Promise<Omit<VerifyReply, 'type'>> {
    const replies = await this.all<VerifyReply>({ cmd: 'verify', accepted: Object.fromEntries(accepted) });
    const sum = (k: keyof Omit<VerifyReply, 'type'>) => replies.reduce((a, r) => a + r[k], 0);
    return {
      participants: sum('participants'),
      lost: sum('lost'),
      duplicatedEvents: Math.max(...replies.map((r) => r.duplicatedEvents)),
      divergent: sum('divergent'),
      foreign: Math.max(...replies.map((r) => r.foreign)),
      redelivered: sum('redelivered'),
      caughtUp: sum('caughtUp'),
      catchUps: sum('catchUps'),
      reconnects: sum('reconnects'),
    };
  }

  async report(): Promise<CrowdReport> {
    const replies = await this.all<ReportReply>({ cmd: 'report' });
    const keys = Object.keys(replies[0]!.hist) as Array<keyof ReportReply['hist']>;
    const hist = Object.fromEntries(
      keys.map((k) => [k, merge(replies.map((r) => r.hist[k]))]),
    ) as CrowdReport['hist'];
    const events = new Map<string, { accepted: number; last: number; n: number }>();
    for (const r of replies)
      for (const [id, accepted, last, n] of r.events) {
        const e = events.get(id);
        if (e) {
          e.n += n;
          e.last = Math.max(e.last, last);
        } else events.set(id, { accepted, last, n });
      }
    return {
      hist,
      deliveries: replies.reduce((a, r) => a + r.deliveries, 0),
      messages: replies.reduce((a, r) => a + r.messages, 0),
      events,
    };
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
            c.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            c.send({ cmd: 'stop' } satisfies Command);
          }),
      ),
    );
  }
}
