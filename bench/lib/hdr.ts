/**
 * Latency histograms (HdrHistogram, microsecond values, 3 significant digits) and their summary in
 * milliseconds. Histograms travel between processes as compressed base64.
 */
import * as hdr from 'hdr-histogram-js';

export type Histogram = hdr.Histogram;

/** Values are µs; up to 10 min is trackable (larger values are clamped, and counted as such). */
const HIGHEST_US = 600_000_000;

export function histogram(): Histogram {
  return hdr.build({
    bitBucketSize: 32,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
}

/** Records a latency in µs (negative values from clock quantisation count as 0). */
export function recordUs(h: Histogram, us: number): void {
  h.recordValue(Math.min(HIGHEST_US, Math.max(0, Math.round(us))));
}

export function encode(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decode(s: string): Histogram {
  return hdr.decodeFromCompressedBase64(s, 32, false);
}

/** Adds encoded histograms into one. */
export function merge(encoded: string[]): Histogram {
  const out = histogram();
  for (const e of encoded) out.add(decode(e));
  return out;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Percentiles in ms, 2 decimals. */
export function summary(h: Histogram): LatencySummary {
  const ms = (us: number) => Math.round(us / 10) / 100;
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p95: ms(h.getValueAtPercentile(95)),
    p99: ms(h.getValueAtPercentile(99)),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  };
}

/** Epoch time in µs with sub-ms resolution (performance clock anchored at process start). */
export function nowUs(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}
