/** Small numeric helpers for the metrics. */

/**
 * Gini coefficient of non-negative values: mean absolute difference over all ordered pairs divided
 * by twice the mean, G = Σᵢ Σⱼ |xᵢ − xⱼ| / (2 n² x̄). 0 = perfectly equal; the maximum is
 * (n − 1) / n (one value holds everything). Defined as 0 for fewer than two values and when all
 * values are 0 (nobody is ahead of anybody). Computed in O(n log n) from the sorted form
 * G = 2 Σᵢ i·x₍ᵢ₎ / (n Σ x) − (n + 1) / n, i = 1..n ascending.
 */
export function gini(values: readonly number[]): number {
  const n = values.length;
  if (n < 2) return 0;
  const xs = values.map((v) => (v > 0 ? v : 0)).sort((a, b) => a - b);
  let total = 0;
  let weighted = 0;
  for (let i = 0; i < n; i++) {
    const x = xs[i] as number;
    total += x;
    weighted += (i + 1) * x;
  }
  if (total === 0) return 0;
  const g = (2 * weighted) / (n * total) - (n + 1) / n;
  return g < 0 ? 0 : g; // rounding can give -1e-17 for equal values
}

/** cyrb53: a fast 53-bit string hash (not cryptographic), used to notice changed outputs. */
export function hash53(text: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
