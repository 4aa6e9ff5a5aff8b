/**
 * A small in-process cache with a time-to-live and a size cap (oldest entries go first). Used to
 * spare Cosmos DB a read of the meeting / participant / poll documents on every request; each
 * use documents how stale an entry may be (docs/api.md "Caches and staleness").
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();
  private readonly pending = new Map<string, Promise<V>>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly clock: () => number = Date.now,
  ) {}

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expires <= this.clock()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V, ttlMs = this.ttlMs): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expires: this.clock() + ttlMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  /** The cached value, or `load()`'s (concurrent misses for one key share one load). */
  async getOrLoad(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    let loading = this.pending.get(key);
    if (!loading) {
      loading = load().finally(() => this.pending.delete(key));
      this.pending.set(key, loading);
      const value = await loading;
      this.set(key, value);
      return value;
    }
    return loading;
  }
}
