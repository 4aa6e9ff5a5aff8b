/**
 * Hop latency (SPEC §6): how long an event takes from the moment the HTTP API accepted it to each
 * later hop, as streaming quantiles with bounded memory (lib/analytics/quantiles.ts).
 *
 * The hops, in order, each measured from `accepted` (the event's `receivedAt`, API clock):
 * - `committed`: the event document is durable in Cosmos DB. Only the API instance that wrote it
 *   knows when that happened (Cosmos DB's `_ts` has one-second resolution), so this hop is kept
 *   per instance in a HopMeter, not in the meeting's state.
 * - `processed`: the change-feed processor folded the event and committed its envelope (seq
 *   assigned, durable in the log, visible to catch-up).
 * - `pushed`: Web PubSub accepted the message carrying the envelope for every connection of the
 *   meeting's group. What a participant sees adds its own network hop, which only the client can
 *   measure (the envelope's `trace` carries `accepted` and `processed` for that).
 *
 * `processed` and `pushed` are kept per meeting in the processor's state, so any instance resumes
 * them. Pushes happen after the commit, so the stored `pushed` quantiles lag by at most one batch.
 * Clocks: the API and the processor may run on different instances; their skew adds to (or, when
 * negative, is counted as 0 by) the cross-instance hops.
 */
import * as quantiles from '../analytics/quantiles';
import type { QuantileSketch } from '../analytics/quantiles';
import type { Envelope } from '../protocol';

export const HOPS = ['committed', 'processed', 'pushed'] as const;
export type Hop = (typeof HOPS)[number];

/** The hops the processor measures and keeps in the meeting's state. */
export type ProcessorHop = Exclude<Hop, 'committed'>;
export type HopSketches = Partial<Record<Hop, QuantileSketch>>;

/**
 * 2 % relative error is plenty for latency, and halves the state compared with the 1 % default:
 * at most ~400 counters per hop (5 ms..10 s spans ~190 of them).
 */
const SKETCH = { alpha: 0.02, maxBins: 400 } as const;

export interface HopQuantiles {
  /** Events measured. */
  count: number;
  /** Milliseconds from accepted, rounded. */
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Per hop, the quantiles of the time from accepted, or null before the first measurement. */
export type HopLatency = Record<Hop, HopQuantiles | null>;

/** Records `times` events that took `ms` from accepted to `hop`. */
export function recordHop(sketches: HopSketches, hop: Hop, ms: number, times = 1): void {
  const sketch = (sketches[hop] ??= quantiles.create(SKETCH));
  quantiles.add(sketch, ms, times);
}

/** Milliseconds from accepted to `now` of each event envelope (the ones with a trace). */
export function sinceAccepted(envelopes: readonly Envelope[], now: number): number[] {
  return envelopes.flatMap((e) => (e.kind === 'event' && e.trace ? [now - e.trace.accepted] : []));
}

function report(sketch: QuantileSketch | undefined): HopQuantiles | null {
  if (!sketch || sketch.count === 0) return null;
  const q = quantiles.summary(sketch);
  const ms = (v: number | null) => Math.round(v ?? 0);
  return { count: q.count, p50: ms(q.p50), p95: ms(q.p95), p99: ms(q.p99), max: ms(q.max) };
}

/** The quantiles of every hop, merging sketches from several sources (state, this instance). */
export function hopLatency(...sources: Array<HopSketches | undefined>): HopLatency {
  const out = {} as HopLatency;
  for (const hop of HOPS) {
    let merged: QuantileSketch | undefined;
    for (const source of sources) {
      const s = source?.[hop];
      if (!s || s.count === 0) continue;
      merged ??= quantiles.create({ alpha: s.alpha, maxBins: s.maxBins });
      quantiles.merge(merged, s);
    }
    out[hop] = report(merged);
  }
  return out;
}

/**
 * What one instance measured: every hop over all meetings since it started (for the operators'
 * health view), and the `committed` hop per meeting for the most recently active meetings (the
 * only place that hop exists; bounded, least recently used dropped first).
 */
export class HopMeter {
  private readonly all: HopSketches = {};
  private readonly perMeeting = new Map<string, HopSketches>();

  constructor(private readonly maxMeetings = 1000) {}

  record(meetingId: string, hop: Hop, ms: number, times = 1): void {
    recordHop(this.all, hop, ms, times);
    if (hop !== 'committed') return;
    let sketches = this.perMeeting.get(meetingId);
    if (sketches) this.perMeeting.delete(meetingId);
    else sketches = {};
    this.perMeeting.set(meetingId, sketches); // most recent last
    recordHop(sketches, hop, ms, times);
    if (this.perMeeting.size > this.maxMeetings) {
      const oldest = this.perMeeting.keys().next().value;
      if (oldest !== undefined) this.perMeeting.delete(oldest);
    }
  }

  /** This instance's `committed` sketch for one meeting (merged with the state's by the views). */
  meeting(meetingId: string): HopSketches | undefined {
    return this.perMeeting.get(meetingId);
  }

  /** Every hop this instance measured, over all meetings. */
  instance(): HopLatency {
    return hopLatency(this.all);
  }
}
