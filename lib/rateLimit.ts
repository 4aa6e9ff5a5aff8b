/**
 * Token buckets, in process, one per kind (config.ts RateLimits) and key: per participant `events`
 * (one token per event posted, so a batch of 100 costs 100) and `requests` (one per call to any
 * other participant route); per meeting `joins`; per client address `joinFailures`. A bucket
 * holds at most `burst` tokens and refills at `perSecond`. When a request does not fit, the
 * caller answers 429 with Retry-After: the seconds until it would fit.
 *
 * The limits are per Functions instance: with N instances a participant could reach N times them.
 * That keeps the hot path free of a shared counter; Cosmos DB's own throughput limit (→ 503) is
 * the global backstop.
 */
import type { RateLimits } from './config';

export type Take = { ok: true } | { ok: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  updated: number;
}

/** Above this many buckets, full (idle) ones are dropped: a full bucket is the same as no bucket. */
const PRUNE_ABOVE = 50_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limits: RateLimits,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Spends `cost` tokens of `key`'s `kind` bucket if it has them. */
  take(kind: keyof RateLimits, key: string, cost = 1): Take {
    return this.settle(kind, key, cost, true);
  }

  /** Whether `cost` tokens are there, spending nothing (for limits charged only on failure). */
  check(kind: keyof RateLimits, key: string, cost = 1): Take {
    return this.settle(kind, key, cost, false);
  }

  private settle(kind: keyof RateLimits, key: string, cost: number, spend: boolean): Take {
    const limit = this.limits[kind];
    const now = this.clock();
    const id = `${kind}:${key}`;
    let bucket = this.buckets.get(id);
    if (!bucket) {
      if (this.buckets.size >= PRUNE_ABOVE) this.prune(now);
      bucket = { tokens: limit.burst, updated: now };
      this.buckets.set(id, bucket);
    }
    bucket.tokens = Math.min(limit.burst, bucket.tokens + ((now - bucket.updated) / 1000) * limit.perSecond);
    bucket.updated = now;
    if (cost <= bucket.tokens) {
      if (spend) bucket.tokens -= cost;
      return { ok: true };
    }
    const missing = Math.min(cost, limit.burst) - bucket.tokens;
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(missing / limit.perSecond)) };
  }

  private prune(now: number): void {
    for (const [id, bucket] of this.buckets) {
      const limit = this.limits[id.slice(0, id.indexOf(':')) as keyof RateLimits];
      if (bucket.tokens + ((now - bucket.updated) / 1000) * limit.perSecond >= limit.burst)
        this.buckets.delete(id);
    }
  }
}
