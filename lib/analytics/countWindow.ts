/**
 * Count-based sliding window: the last `capacity` items in arrival order. Pushing evicts the
 * oldest item and hands it back so an aggregate kept beside the window can subtract it.
 * State is a plain JSON object.
 */
export interface CountWindow<T> {
  capacity: number;
  items: T[];
}

export function create<T>(capacity: number): CountWindow<T> {
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be an integer ≥ 1');
  return { capacity, items: [] };
}

/** Appends `item`; returns the evicted oldest item when the window was full. */
export function push<T>(w: CountWindow<T>, item: T): T | undefined {
  w.items.push(item);
  return w.items.length > w.capacity ? w.items.shift() : undefined;
}
