/**
 * Time-based sliding window: per-key sums (and optionally counts) in fixed-width time buckets held
 * in a ring of `buckets` slots, so memory is O(buckets × distinct keys per bucket) however many
 * events arrive.
 *
 * Semantics (event time, epoch ms):
 * - A value at time t lands in bucket floor(t / bucketMs).
 * - The window as of time T is the `buckets` most recent buckets ending with T's bucket, i.e. the
 *   times [windowStart(T), T] where windowStart is a bucket boundary: it spans between
 *   (buckets − 1) × bucketMs and buckets × bucketMs. An event exactly on a boundary belongs to the
 *   bucket that starts there.
 * - The watermark is the greatest event time added. A value older than watermark − toleranceMs is
 *   late: dropped and counted. A value within tolerance lands in its own bucket as long as the ring
 *   still holds that bucket; otherwise it is dropped and counted too.
 * - Time passing without events needs no call: queries take the time T and ignore buckets that
 *   fell out of the window; stale slots are reused lazily by later buckets. Queries assume T is not
 *   before the watermark (callers pass max(now, watermark)).
 *
 * State is a plain JSON object; functions are pure apart from mutating the state they are given.
 */
import { inc, type NumberMap } from './records';

export interface SlidingWindowOptions {
  bucketMs: number;
  buckets: number;
  /** How far behind the watermark a value may arrive and still count (default 5 s). */
  toleranceMs?: number;
  /** Also keep a per-key count of added values (for averages); default false. */
  counts?: boolean;
}

export interface SlidingBucket {
  /** Bucket number: floor(time / bucketMs). */
  b: number;
  sum: NumberMap;
  n?: NumberMap;
}

export interface SlidingWindow {
  bucketMs: number;
  buckets: number;
  toleranceMs: number;
  counts: boolean;
  watermark: number | null;
  /** Values dropped because they were late beyond tolerance or older than the ring holds. */
  dropped: number;
  ring: Array<SlidingBucket | null>;
}

export function create(opts: SlidingWindowOptions): SlidingWindow {
  if (!(opts.bucketMs > 0) || !Number.isInteger(opts.buckets) || opts.buckets < 1) {
    throw new RangeError('sliding window needs bucketMs > 0 and an integer buckets ≥ 1');
  }
  return {
    bucketMs: opts.bucketMs,
    buckets: opts.buckets,
    toleranceMs: opts.toleranceMs ?? 5000,
    counts: opts.counts ?? false,
    watermark: null,
    dropped: 0,
    ring: new Array<SlidingBucket | null>(opts.buckets).fill(null),
  };
}

/** Window length in ms (the nominal span). */
export const spanMs = (w: SlidingWindow): number => w.bucketMs * w.buckets;

/** First ms of the window as of time T (a bucket boundary). */
export function windowStart(w: SlidingWindow, T: number): number {
  return (Math.floor(T / w.bucketMs) - w.buckets + 1) * w.bucketMs;
}

/** Adds `value` for `key` at event time t. Returns false when the value was dropped. */
export function add(w: SlidingWindow, key: string, t: number, value = 1): boolean {
  if (w.watermark !== null && t < w.watermark - w.toleranceMs) {
    w.dropped++;
    return false;
  }
  if (w.watermark === null || t > w.watermark) w.watermark = t;
  const b = Math.floor(t / w.bucketMs);
  if (b <= Math.floor(w.watermark / w.bucketMs) - w.buckets) {
    w.dropped++;
    return false;
  }
  const slot = slotFor(w, b);
  inc(slot.sum, key, value);
  if (slot.n) inc(slot.n, key, 1);
  return true;
}

/**
 * Adds the duration of the interval [start, end) for `key`, split exactly over the buckets it
 * overlaps (ms each). Used for talk time: the interval is known only when it closes, so its early
 * part is "old" by design and no lateness rule applies; parts older than the ring are irrelevant
 * to any window at or after `end` and are skipped.
 */
export function addSpan(w: SlidingWindow, key: string, start: number, end: number): void {
  if (!(end > start)) return;
  if (w.watermark === null || end > w.watermark) w.watermark = end;
  const first = Math.max(
    Math.floor(start / w.bucketMs),
    Math.floor(w.watermark / w.bucketMs) - w.buckets + 1,
  );
  const last = Math.floor((end - 1) / w.bucketMs);
  for (let b = first; b <= last; b++) {
    const from = Math.max(start, b * w.bucketMs);
    const to = Math.min(end, (b + 1) * w.bucketMs);
    if (to > from) inc(slotFor(w, b).sum, key, to - from);
  }
}

/**
 * Per-key sums over the window as of T. With `from` (ms), only buckets starting at or after it
 * count: a narrower window aligned to this window's buckets.
 */
export function sums(w: SlidingWindow, T: number, from?: number): NumberMap {
  return collect(w, T, from, false);
}

/** Per-key counts over the window as of T (only when created with `counts: true`). */
export function counts(w: SlidingWindow, T: number): NumberMap {
  return collect(w, T, undefined, true);
}

/** Sum of all keys over the window as of T. */
export function total(w: SlidingWindow, T: number): number {
  let t = 0;
  for (const v of Object.values(sums(w, T))) t += v;
  return t;
}

function collect(w: SlidingWindow, T: number, from: number | undefined, useCounts: boolean): NumberMap {
  const hi = Math.floor(T / w.bucketMs);
  let lo = hi - w.buckets + 1;
  if (from !== undefined) lo = Math.max(lo, Math.ceil(from / w.bucketMs));
  const out: NumberMap = {};
  for (const slot of w.ring) {
    if (!slot || slot.b < lo || slot.b > hi) continue;
    const src = useCounts ? slot.n : slot.sum;
    if (!src) continue;
    for (const k of Object.keys(src)) inc(out, k, src[k] as number);
  }
  return out;
}

function slotFor(w: SlidingWindow, b: number): SlidingBucket {
  const i = ((b % w.buckets) + w.buckets) % w.buckets;
  let slot = w.ring[i];
  // A slot holding an older bucket is reused; one holding a newer bucket cannot occur because
  // callers never add to a bucket the ring no longer holds.
  if (!slot || slot.b !== b) {
    slot = w.counts ? { b, sum: {}, n: {} } : { b, sum: {} };
    w.ring[i] = slot;
  }
  return slot;
}
