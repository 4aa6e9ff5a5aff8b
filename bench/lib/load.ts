/**
 * Open-loop load generator: posts events at a fixed rate through the public API, spread round-robin
 * over meetings and their participants (so each participant posts rate / participants events/s,
 * far below the per-participant rate limit). The schedule does not wait for answers; a request
 * that cannot start because `maxInFlight` are outstanding is counted as a schedule lag.
 *
 * Each event carries a client id (the idempotency key) that ends with its send time in base-36 µs,
 * so participants can time send → delivered. Throttled (429/503) and failed requests are retried
 * with the same id and body, as an app should; only events answered 202 count as accepted.
 */
import type { BenchParticipant } from './fleet';
import { histogram, nowUs, recordUs, type Histogram } from './hdr';
import { sleep, type JsonClient } from './http';

export interface LoadOptions {
  rate: number;
  seconds: number;
  prefix: string;
  maxInFlight?: number;
  /** Give up on an event (outcome unknown) after retrying this long. */
  retryForMs?: number;
}

export interface LoadResult {
  seconds: number;
  offered: number;
  sent: number;
  accepted: number;
  achievedRate: number;
  statuses: Record<string, number>;
  retries: number;
  /** Events never answered 202 after retrying (not counted as accepted). */
  abandoned: number;
  /** Largest shortfall behind the schedule, in events. */
  maxLag: number;
}

const PATTERN = [
  'chat',
  'reaction',
  'chat',
  'speaking.start',
  'reaction',
  'chat',
  'caption',
  'reaction',
  'speaking.stop',
  'chat',
] as const;
const EMOJI = ['👍', '❤️', '😂', '👏', '🎉', '🔥'];

function eventBody(kind: (typeof PATTERN)[number], n: number, id: string): Record<string, unknown> {
  switch (kind) {
    case 'chat':
      return {
        id,
        type: 'chat.message',
        data: { text: `message ${n}: the quick brown fox jumps over the lazy dog` },
      };
    case 'reaction':
      return { id, type: 'reaction', data: { emoji: EMOJI[n % EMOJI.length] } };
    case 'caption':
      return {
        id,
        type: 'caption.segment',
        data: {
          text: `caption ${n} about latency budgets and change feeds`,
          startMs: n * 1000,
          endMs: n * 1000 + 900,
          final: true,
        },
      };
    default:
      return { id, type: kind, data: {} };
  }
}

export class LoadGenerator {
  /** Event ids answered 202, per meeting id. */
  readonly accepted = new Map<string, string[]>();
  /** send → 202 (includes the API's Cosmos DB write: the "committed" hop as a client sees it). */
  readonly sentToAccepted: Histogram = histogram();
  readonly statuses: Record<string, number> = {};
  private readonly counts: number[];
  private sent = 0;
  private acceptedCount = 0;
  private retries = 0;
  private abandoned = 0;
  private inFlight = 0;
  private next = 0;

  constructor(
    private readonly client: JsonClient,
    private readonly participants: BenchParticipant[][],
  ) {
    this.counts = new Array<number>(participants.flat().length).fill(0);
  }

  async run(opts: LoadOptions): Promise<LoadResult> {
    const meetings = this.participants.length;
    const per = this.participants[0]!.length;
    const maxInFlight = opts.maxInFlight ?? 256;
    const t0 = performance.now();
    const startSent = this.sent;
    const startAccepted = this.acceptedCount;
    const startRetries = this.retries;
    const startAbandoned = this.abandoned;
    const startStatuses = { ...this.statuses };
    const offered = Math.round(opts.rate * opts.seconds);
    let maxLag = 0;
    const pending = new Set<Promise<void>>();
    while (this.sent - startSent < offered) {
      const due = Math.min(offered, Math.floor(((performance.now() - t0) / 1000) * opts.rate));
      let lag = due - (this.sent - startSent);
      if (lag > maxLag) maxLag = lag;
      while (lag > 0 && this.inFlight < maxInFlight) {
        const k = this.next++;
        const m = k % meetings;
        const p = Math.floor(k / meetings) % per;
        const participant = this.participants[m]![p]!;
        const slot = m * per + p;
        const n = this.counts[slot]!++;
        const id = `${opts.prefix}${k}-${Math.round(nowUs()).toString(36)}`;
        const body = eventBody(PATTERN[n % PATTERN.length]!, n, id);
        const work = this.post(participant, body, opts.retryForMs ?? 60_000);
        pending.add(work);
        void work.finally(() => pending.delete(work));
        this.sent++;
        lag--;
      }
      await sleep(1);
    }
    await Promise.all(pending);
    const seconds = (performance.now() - t0) / 1000;
    const accepted = this.acceptedCount - startAccepted;
    return {
      seconds: Math.round(seconds * 100) / 100,
      offered,
      sent: this.sent - startSent,
      accepted,
      // Over the time it really took (the schedule falls behind when requests back up), not the
      // nominal duration: 60,000 events accepted over 288 s is 208/s, not 1,000/s.
      achievedRate: Math.round(accepted / Math.max(opts.seconds, seconds)),
      // This run's answers only (attempts, retries included).
      statuses: Object.fromEntries(
        Object.entries(this.statuses)
          .map(([k, v]) => [k, v - (startStatuses[k] ?? 0)])
          .filter(([, v]) => (v as number) > 0),
      ) as Record<string, number>,
      retries: this.retries - startRetries,
      abandoned: this.abandoned - startAbandoned,
      maxLag,
    };
  }

  private async post(
    participant: BenchParticipant,
    body: Record<string, unknown>,
    retryForMs: number,
  ): Promise<void> {
    this.inFlight++;
    const id = body.id as string;
    const sentUs = parseInt(id.slice(id.lastIndexOf('-') + 1), 36);
    const deadline = performance.now() + retryForMs;
    try {
      for (;;) {
        let status = 0;
        let retryAfter = 0.2;
        try {
          const res = await this.client.request('POST', `/meetings/${participant.meetingId}/events`, {
            token: participant.token,
            body,
            timeoutMs: 15_000,
          });
          status = res.status;
          retryAfter = Number(res.headers['retry-after'] ?? 1);
        } catch {
          status = 0; // connection refused / reset / timeout: the runner may be restarting
        }
        this.statuses[status] = (this.statuses[status] ?? 0) + 1;
        if (status === 202) {
          recordUs(this.sentToAccepted, nowUs() - sentUs);
          let list = this.accepted.get(participant.meetingId);
          if (!list) this.accepted.set(participant.meetingId, (list = []));
          list.push(id);
          this.acceptedCount++;
          return;
        }
        const retryable = status === 0 || status === 429 || status === 503 || status >= 500;
        if (!retryable || performance.now() > deadline) {
          this.abandoned++;
          return;
        }
        this.retries++;
        await sleep(Math.min(5, retryAfter) * 1000);
      }
    } finally {
      this.inFlight--;
    }
  }
}
