/**
 * Lets long-poll requests and SSE streams wait for a meeting's next envelopes without each of them
 * polling Cosmos DB: per meeting and instance ONE loop asks "what is the latest seq?" every
 * `pollMs` while anyone waits, and wakes every waiter whose position is behind it. The cost is one
 * small single-partition query per meeting per interval, however many clients wait on it.
 */
export interface LatestSeqSource {
  latestPageSeq(meetingId: string): Promise<number>;
}

interface Waiter {
  after: number;
  resolve: (advanced: boolean) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface MeetingWatch {
  waiters: Set<Waiter>;
  /** Latest seq seen and when, so a burst of arrivals does not query again at once. */
  latest: number;
  seenAt: number;
}

export class EnvelopeWatcher {
  private readonly meetings = new Map<string, MeetingWatch>();
  private closed = false;

  constructor(
    private readonly source: LatestSeqSource,
    private readonly pollMs: number,
    private readonly log: (message: string) => void = () => undefined,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Resolves true as soon as the meeting has an envelope after `after`, false after `timeoutMs`. */
  wait(meetingId: string, after: number, timeoutMs: number): Promise<boolean> {
    if (this.closed || timeoutMs <= 0) return Promise.resolve(false);
    let watch = this.meetings.get(meetingId);
    if (watch && watch.latest > after && this.clock() - watch.seenAt < this.pollMs) {
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        after,
        resolve,
        timer: setTimeout(() => {
          watch?.waiters.delete(waiter);
          resolve(false);
        }, timeoutMs),
      };
      if (!watch) {
        watch = { waiters: new Set(), latest: 0, seenAt: 0 };
        this.meetings.set(meetingId, watch);
        watch.waiters.add(waiter);
        void this.run(meetingId, watch);
      } else {
        watch.waiters.add(waiter);
      }
    });
  }

  /** Number of meetings being watched (for tests and diagnostics). */
  get watching(): number {
    return this.meetings.size;
  }

  close(): void {
    this.closed = true;
    for (const watch of this.meetings.values()) {
      for (const w of watch.waiters) {
        clearTimeout(w.timer);
        w.resolve(false);
      }
      watch.waiters.clear();
    }
  }

  private async run(meetingId: string, watch: MeetingWatch): Promise<void> {
    let failures = 0;
    while (watch.waiters.size > 0 && !this.closed) {
      try {
        const latest = await this.source.latestPageSeq(meetingId);
        failures = 0;
        watch.latest = latest;
        watch.seenAt = this.clock();
        for (const w of watch.waiters) {
          if (latest > w.after) {
            clearTimeout(w.timer);
            watch.waiters.delete(w);
            w.resolve(true);
          }
        }
      } catch (err) {
        // Waiters time out on their own; keep trying at a slower pace meanwhile.
        if (failures++ === 0) this.log(`watching meeting ${meetingId} failed: ${errorText(err)}`);
      }
      if (watch.waiters.size === 0) break;
      await sleep(this.pollMs * Math.min(1 + failures, 10));
    }
    if (this.meetings.get(meetingId) === watch) this.meetings.delete(meetingId);
    // A waiter that arrived after the loop decided to stop would otherwise never be woken.
    if (watch.waiters.size > 0 && !this.closed) {
      this.meetings.set(meetingId, watch);
      void this.run(meetingId, watch);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
