import * as counting from '../../lib/analytics/countWindow';
import * as quantiles from '../../lib/analytics/quantiles';
import * as sliding from '../../lib/analytics/slidingWindow';
import { gini, hash53 } from '../../lib/analytics/stats';
import { keywords } from '../../lib/analytics/text';
import * as tumbling from '../../lib/analytics/tumblingWindow';
import { rng } from '../fixtures/meetingScript';

const jsonSize = (state: unknown) => JSON.stringify(state).length;
const T0 = 1_700_000_040_000; // a whole second, 5 seconds and minute

describe('time-based sliding window (1 s buckets × 60, 5 s tolerance)', () => {
  const make = () => sliding.create({ bucketMs: 1000, buckets: 60, toleranceMs: 5000 });

  test('an event exactly on a bucket boundary belongs to the bucket that starts there', () => {
    const w = make();
    sliding.add(w, 'a', T0 + 999);
    sliding.add(w, 'a', T0 + 1000);
    // As of T0 + 60 s the window is buckets T0+1 s .. T0+60 s: the event at T0+999 ms fell out.
    expect(sliding.sums(w, T0 + 60_000)).toEqual({ a: 1 });
    expect(sliding.sums(w, T0 + 59_999)).toEqual({ a: 2 });
  });

  test('the window as of T spans the 60 buckets ending with T’s bucket', () => {
    const w = make();
    sliding.add(w, 'a', T0);
    expect(sliding.windowStart(w, T0 + 59_999)).toBe(T0);
    expect(sliding.total(w, T0 + 59_999)).toBe(1);
    expect(sliding.windowStart(w, T0 + 60_000)).toBe(T0 + 1000);
    expect(sliding.total(w, T0 + 60_000)).toBe(0);
  });

  test('values expire as time advances with no new events', () => {
    const w = make();
    for (let i = 0; i < 30; i++) sliding.add(w, i % 2 ? 'odd' : 'even', T0 + i * 1000);
    expect(sliding.sums(w, T0 + 30_000)).toEqual({ odd: 15, even: 15 });
    expect(sliding.total(w, T0 + 75_000)).toBe(14); // buckets 16..29 remain
    expect(sliding.sums(w, T0 + 75_000)).toEqual({ odd: 7, even: 7 });
    expect(sliding.total(w, T0 + 89_999)).toBe(0);
    expect(sliding.total(w, T0 + 10 * 3600_000)).toBe(0);
  });

  test('an out-of-order event within tolerance lands in its own bucket', () => {
    const w = make();
    sliding.add(w, 'a', T0 + 10_000);
    expect(sliding.add(w, 'a', T0 + 5_500)).toBe(true); // 4.5 s late
    expect(w.dropped).toBe(0);
    // Its bucket (T0+5 s) leaves the window before the later event's bucket does.
    expect(sliding.total(w, T0 + 64_999)).toBe(2);
    expect(sliding.total(w, T0 + 65_000)).toBe(1);
  });

  test('an event later than the tolerance is dropped and counted', () => {
    const w = make();
    sliding.add(w, 'a', T0 + 10_000);
    expect(sliding.add(w, 'a', T0 + 5_000)).toBe(true); // exactly at the tolerance: accepted
    expect(sliding.add(w, 'a', T0 + 4_999)).toBe(false);
    expect(w.dropped).toBe(1);
    expect(sliding.total(w, T0 + 10_000)).toBe(2);
  });

  test('sums per key and, when asked, counts per key', () => {
    const w = sliding.create({ bucketMs: 1000, buckets: 10, counts: true });
    sliding.add(w, 'lat', T0, 12);
    sliding.add(w, 'lat', T0 + 1, 30);
    sliding.add(w, 'other', T0 + 2000, 5);
    expect(sliding.sums(w, T0 + 2000)).toEqual({ lat: 42, other: 5 });
    expect(sliding.counts(w, T0 + 2000)).toEqual({ lat: 2, other: 1 });
  });

  test('a span is split exactly over the buckets it overlaps', () => {
    const w = sliding.create({ bucketMs: 5000, buckets: 60, toleranceMs: 300_000 });
    sliding.addSpan(w, 'p', T0 + 2500, T0 + 12_500); // 2.5 s + 5 s + 2.5 s
    expect(w.ring.filter(Boolean).map((b) => b!.sum.p)).toEqual([2500, 5000, 2500]);
    expect(sliding.sums(w, T0 + 12_500)).toEqual({ p: 10_000 });
    expect(sliding.sums(w, T0 + 12_500, T0 + 5000)).toEqual({ p: 7500 });
    // 5 min later only the part in the last 60 buckets counts.
    expect(sliding.sums(w, T0 + 300_000)).toEqual({ p: 7500 });
  });

  test('a span longer than the window only keeps what the ring can hold', () => {
    const w = sliding.create({ bucketMs: 5000, buckets: 60 });
    sliding.addSpan(w, 'p', T0, T0 + 3600_000);
    expect(sliding.sums(w, T0 + 3600_000)).toEqual({ p: 300_000 - 5000 });
    expect(w.ring.length).toBe(60);
  });

  test('memory stays bounded over 1,000,000 events (JSON under 20 kB with 10 keys)', () => {
    const w = make();
    const rand = rng(7);
    let t = T0;
    for (let i = 0; i < 1_000_000; i++) {
      t += Math.floor(rand() * 20);
      sliding.add(w, `k${i % 10}`, t - Math.floor(rand() * 8000));
    }
    expect(w.ring.length).toBe(60);
    expect(jsonSize(w)).toBeLessThan(20_000);
    expect(w.dropped).toBeGreaterThan(0);
  });
});

describe('count-based sliding window', () => {
  test('keeps the last N items and hands back the evicted one', () => {
    const w = counting.create<number>(3);
    expect([1, 2, 3].map((x) => counting.push(w, x))).toEqual([undefined, undefined, undefined]);
    expect(counting.push(w, 4)).toBe(1);
    expect(w.items).toEqual([2, 3, 4]);
  });

  test('memory stays bounded over 1,000,000 items (JSON under 1 kB for 50 small items)', () => {
    const w = counting.create<number>(50);
    for (let i = 0; i < 1_000_000; i++) counting.push(w, i % 1000);
    expect(w.items).toHaveLength(50);
    expect(jsonSize(w)).toBeLessThan(1000);
  });
});

describe('tumbling window (1-minute buckets, keep 180)', () => {
  const make = () => tumbling.create({ sizeMs: 60_000, keep: 180, toleranceMs: 5000 });

  test('an event exactly at a minute boundary opens the new minute', () => {
    const tw = make();
    tumbling.add(tw, 'chat', T0 + 59_999);
    tumbling.add(tw, 'chat', T0 + 60_000);
    expect(tumbling.windowsAt(tw, T0 + 60_000).map((b) => [b.w * 60_000 - T0, b.counts])).toEqual([
      [0, { chat: 1 }],
      [60_000, { chat: 1 }],
    ]);
  });

  test('old minutes leave the view as time advances and are pruned when newer ones arrive', () => {
    const tw = make();
    tumbling.add(tw, 'a', T0);
    expect(tumbling.windowsAt(tw, T0 + 179 * 60_000)).toHaveLength(1);
    expect(tumbling.windowsAt(tw, T0 + 180 * 60_000)).toHaveLength(0);
    tumbling.add(tw, 'a', T0 + 200 * 60_000);
    expect(tw.windows).toHaveLength(1);
    expect(tw.totals).toEqual({ a: 2 });
  });

  test('out-of-order within tolerance lands in its minute; beyond is dropped from windows and totals', () => {
    const tw = make();
    tumbling.add(tw, 'a', T0 + 62_000);
    expect(tumbling.add(tw, 'a', T0 + 58_000)).toBe(Math.floor((T0 + 58_000) / 60_000));
    expect(tumbling.add(tw, 'a', T0 + 50_000)).toBeNull();
    expect(tw.dropped).toBe(1);
    expect(tumbling.windowsAt(tw, T0 + 62_000).map((b) => b.counts.a)).toEqual([1, 1]);
    expect(tw.totals).toEqual({ a: 2 });
  });

  test('memory stays bounded over 1,000,000 events (JSON under 40 kB with 14 keys)', () => {
    const tw = make();
    const rand = rng(3);
    let t = T0;
    for (let i = 0; i < 1_000_000; i++) {
      t += Math.floor(rand() * 40);
      tumbling.add(tw, `type${i % 14}`, t - Math.floor(rand() * 3000));
    }
    expect(tw.windows.length).toBeLessThanOrEqual(180);
    expect(jsonSize(tw)).toBeLessThan(40_000);
  });
});

describe('quantile sketch (log-bucketed histogram, 1 % relative error)', () => {
  const exact = (sorted: number[], q: number) => sorted[Math.floor(q * (sorted.length - 1))]!;

  test('p50/p95/p99 are within 1 % of the exact quantiles', () => {
    const s = quantiles.create();
    const rand = rng(11);
    const values: number[] = [];
    for (let i = 0; i < 100_000; i++) {
      // Log-normal-ish latencies from ~0.1 ms to seconds.
      const v = Math.exp(rand() * 4 + rand() * 4 - 2) * (rand() < 0.01 ? 50 : 1);
      values.push(v);
      quantiles.add(s, v);
    }
    values.sort((a, b) => a - b);
    for (const q of [0, 0.5, 0.9, 0.95, 0.99, 0.999, 1]) {
      const want = exact(values, q);
      expect(Math.abs(quantiles.quantile(s, q)! - want) / want).toBeLessThanOrEqual(0.01 + 1e-12);
    }
    const sum = quantiles.summary(s);
    expect(sum.count).toBe(100_000);
    expect(sum.max).toBe(values[values.length - 1]);
  });

  test('zero and negative values count as 0; an empty sketch answers null', () => {
    const s = quantiles.create();
    expect(quantiles.quantile(s, 0.5)).toBeNull();
    quantiles.add(s, -3);
    quantiles.add(s, 0);
    quantiles.add(s, 10);
    expect(quantiles.quantile(s, 0.5)).toBe(0);
    expect(quantiles.quantile(s, 1)).toBeCloseTo(10, 0);
  });

  test('merging two sketches equals sketching all values', () => {
    const a = quantiles.create();
    const b = quantiles.create();
    const all = quantiles.create();
    for (let i = 1; i <= 1000; i++) {
      quantiles.add(i % 2 ? a : b, i);
      quantiles.add(all, i);
    }
    quantiles.merge(a, b);
    for (const q of [0.5, 0.95, 0.99]) expect(quantiles.quantile(a, q)).toBe(quantiles.quantile(all, q));
  });

  test('memory stays bounded over 1,000,000 values spanning 12 orders of magnitude (JSON under 16 kB)', () => {
    const s = quantiles.create({ maxBins: 2048 });
    const rand = rng(5);
    for (let i = 0; i < 1_000_000; i++) quantiles.add(s, Math.pow(10, rand() * 12 - 3));
    expect(s.bins.length).toBeLessThanOrEqual(2048);
    expect(jsonSize(s)).toBeLessThan(16_000);
  });

  test('a narrow bin budget merges the lowest bins and keeps high quantiles accurate', () => {
    const s = quantiles.create({ maxBins: 64 });
    for (let i = 1; i <= 10_000; i++) quantiles.add(s, i);
    expect(s.bins.length).toBeLessThanOrEqual(64);
    expect(Math.abs(quantiles.quantile(s, 0.99)! - 9900) / 9900).toBeLessThanOrEqual(0.01);
  });
});

describe('text and numeric helpers', () => {
  test('keywords are lowercased, stripped of punctuation and stop words, at least 3 characters', () => {
    expect(keywords("The DATABASE migration's done, isn't it? Let's ship v2 & 2026 release!!! ok")).toEqual([
      'database',
      'migrations',
      'ship',
      'release',
    ]);
    expect(keywords('constructor __proto__ toString')).toEqual(['constructor', 'proto', 'tostring']);
    expect(keywords('Größe café naïve')).toEqual(['größe', 'café', 'naïve']);
  });

  test('Gini is 0 for equal shares and fewer than two people, (n−1)/n when one holds everything', () => {
    expect(gini([])).toBe(0);
    expect(gini([42])).toBe(0);
    expect(gini([0, 0, 0])).toBe(0);
    expect(gini([5, 5, 5, 5])).toBe(0);
    expect(gini([0, 0, 0, 10])).toBeCloseTo(0.75, 12);
    // pairs |1-3| = 2 each way: Σ|xi−xj| = 4, 2·n²·mean = 2·4·2 = 16 → 0.25
    expect(gini([1, 3])).toBeCloseTo(0.25, 12);
  });

  test('the change-detection hash is stable and sensitive', () => {
    expect(hash53('abc')).toBe(hash53('abc'));
    expect(hash53('abc')).not.toBe(hash53('abd'));
  });
});
