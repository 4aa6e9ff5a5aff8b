/**
 * Quantile sketch: a log-bucketed histogram (the DDSketch idea). A positive value x goes to bin
 * i = ceil(log_γ x) with γ = (1 + α) / (1 − α), and a bin is reported as 2γ^i / (γ + 1), which is
 * within relative error α of every value in (γ^(i−1), γ^i]. So any quantile is answered with
 * relative error ≤ α (default 1 %), from at most `maxBins` counters (default 2048, which at α = 1 %
 * covers 18 orders of magnitude; beyond that the lowest bins are merged, losing accuracy only at
 * the low end). Values ≤ 0 (e.g. negative latencies from clock skew) are counted as 0.
 * State is a plain JSON object.
 */
export interface QuantileSketchOptions {
  alpha?: number;
  maxBins?: number;
}

export interface QuantileSketch {
  alpha: number;
  maxBins: number;
  count: number;
  sum: number;
  min: number | null;
  max: number | null;
  /** Values ≤ 0. */
  zeros: number;
  /** Bin number of bins[0]. */
  offset: number;
  bins: number[];
}

export function create(opts: QuantileSketchOptions = {}): QuantileSketch {
  const alpha = opts.alpha ?? 0.01;
  if (!(alpha > 0 && alpha < 1)) throw new RangeError('alpha must be in (0, 1)');
  return {
    alpha,
    maxBins: opts.maxBins ?? 2048,
    count: 0,
    sum: 0,
    min: null,
    max: null,
    zeros: 0,
    offset: 0,
    bins: [],
  };
}

const lnGamma = (s: QuantileSketch) => Math.log((1 + s.alpha) / (1 - s.alpha));

export function add(s: QuantileSketch, x: number, times = 1): void {
  if (!Number.isFinite(x) || !(times > 0)) return;
  s.count += times;
  s.sum += x * times;
  s.min = s.min === null ? x : Math.min(s.min, x);
  s.max = s.max === null ? x : Math.max(s.max, x);
  if (x <= 0) {
    s.zeros += times;
    return;
  }
  addToBin(s, Math.ceil(Math.log(x) / lnGamma(s)), times);
}

function addToBin(s: QuantileSketch, i: number, times: number): void {
  if (s.bins.length === 0) {
    s.offset = i;
    s.bins.push(times);
    return;
  }
  if (i < s.offset) {
    const grow = s.offset - i;
    if (s.bins.length + grow > s.maxBins) {
      // Too wide: fold into the lowest bin we keep.
      s.bins[0] = (s.bins[0] as number) + times;
      return;
    }
    s.bins.unshift(...new Array<number>(grow).fill(0));
    s.offset = i;
  } else if (i >= s.offset + s.bins.length) {
    const need = i - s.offset + 1;
    if (need > s.maxBins) {
      // Merge the lowest bins so the new top fits.
      const cut = need - s.maxBins;
      const merged = s.bins.splice(0, Math.min(cut + 1, s.bins.length)).reduce((a, b) => a + b, 0);
      s.offset += cut;
      s.bins.unshift(merged);
    }
    while (s.offset + s.bins.length <= i) s.bins.push(0);
  }
  s.bins[i - s.offset] = (s.bins[i - s.offset] as number) + times;
}

/** The q-quantile (0 ≤ q ≤ 1) of the values added (lower rank q·(n−1)), or null when empty. */
export function quantile(s: QuantileSketch, q: number): number | null {
  if (s.count === 0) return null;
  const rank = Math.floor(Math.min(1, Math.max(0, q)) * (s.count - 1));
  let seen = s.zeros;
  if (rank < seen) return 0;
  const gamma = (1 + s.alpha) / (1 - s.alpha);
  for (let k = 0; k < s.bins.length; k++) {
    seen += s.bins[k] as number;
    if (rank < seen) {
      const v = (2 * Math.pow(gamma, s.offset + k)) / (gamma + 1);
      // Never report outside the observed range.
      return Math.min(Math.max(v, s.min ?? v), s.max ?? v);
    }
  }
  return s.max;
}

/** p50/p95/p99 and friends in one object. */
export function summary(s: QuantileSketch): {
  count: number;
  mean: number | null;
  min: number | null;
  max: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
} {
  return {
    count: s.count,
    mean: s.count ? s.sum / s.count : null,
    min: s.min,
    max: s.max,
    p50: quantile(s, 0.5),
    p95: quantile(s, 0.95),
    p99: quantile(s, 0.99),
  };
}

/** Adds everything in `other` (same alpha) into `into`. */
export function merge(into: QuantileSketch, other: QuantileSketch): void {
  if (other.alpha !== into.alpha) throw new RangeError('cannot merge sketches with different alpha');
  if (other.count === 0) return;
  into.count += other.count;
  into.sum += other.sum;
  into.min = into.min === null ? other.min : Math.min(into.min, other.min ?? into.min);
  into.max = into.max === null ? other.max : Math.max(into.max, other.max ?? into.max);
  into.zeros += other.zeros;
  other.bins.forEach((c, k) => {
    if (c > 0) addToBin(into, other.offset + k, c);
  });
}
