/**
 * Tumbling windows: per-key counts in consecutive, non-overlapping windows of `sizeMs` (e.g. one
 * minute), keeping only the last `keep` windows relative to the watermark, plus all-time totals.
 *
 * Semantics (event time, epoch ms): a value at t belongs to window floor(t / sizeMs). A value older
 * than watermark − toleranceMs is late: dropped (from windows and totals) and counted. A value
 * within tolerance whose window is no longer kept still counts in the totals. State is plain JSON.
 */
import { inc, type NumberMap } from './records';

export interface TumblingWindowOptions {
  sizeMs: number;
  keep: number;
  /** Default 5 s. */
  toleranceMs?: number;
}

export interface TumblingBucket {
  /** Window number: floor(time / sizeMs). */
  w: number;
  counts: NumberMap;
}

export interface TumblingWindow {
  sizeMs: number;
  keep: number;
  toleranceMs: number;
  watermark: number | null;
  dropped: number;
  /** Ascending by `w`, at most `keep` entries. */
  windows: TumblingBucket[];
  totals: NumberMap;
}

export function create(opts: TumblingWindowOptions): TumblingWindow {
  if (!(opts.sizeMs > 0) || !Number.isInteger(opts.keep) || opts.keep < 1) {
    throw new RangeError('tumbling window needs sizeMs > 0 and an integer keep ≥ 1');
  }
  return {
    sizeMs: opts.sizeMs,
    keep: opts.keep,
    toleranceMs: opts.toleranceMs ?? 5000,
    watermark: null,
    dropped: 0,
    windows: [],
    totals: {},
  };
}

/**
 * Adds `value` for `key` at time t. Returns the window number it landed in, or null when it was
 * dropped as late or only counted in the totals.
 */
export function add(tw: TumblingWindow, key: string, t: number, value = 1): number | null {
  if (tw.watermark !== null && t < tw.watermark - tw.toleranceMs) {
    tw.dropped++;
    return null;
  }
  inc(tw.totals, key, value);
  if (tw.watermark === null || t > tw.watermark) tw.watermark = t;
  const oldest = Math.floor(tw.watermark / tw.sizeMs) - tw.keep + 1;
  let drop = 0;
  while (drop < tw.windows.length && (tw.windows[drop] as TumblingBucket).w < oldest) drop++;
  if (drop) tw.windows.splice(0, drop);
  const w = Math.floor(t / tw.sizeMs);
  if (w < oldest) return null;
  // Events arrive nearly in order: search from the newest window.
  let i = tw.windows.length - 1;
  while (i >= 0 && (tw.windows[i] as TumblingBucket).w > w) i--;
  let bucket = tw.windows[i];
  if (!bucket || bucket.w !== w) {
    bucket = { w, counts: {} };
    tw.windows.splice(i + 1, 0, bucket);
  }
  inc(bucket.counts, key, value);
  return w;
}

/** The kept windows within the `keep` windows ending at T's window, oldest first. */
export function windowsAt(tw: TumblingWindow, T: number): TumblingBucket[] {
  const hi = Math.floor(T / tw.sizeMs);
  const lo = hi - tw.keep + 1;
  return tw.windows.filter((b) => b.w >= lo && b.w <= hi);
}
