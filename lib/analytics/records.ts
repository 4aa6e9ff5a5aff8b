/**
 * Helpers for plain-object maps keyed by untrusted strings (participant ids, poll ids, words).
 * The maps must stay plain JSON (they are persisted and reloaded with JSON.parse, which gives them
 * Object.prototype again), so reads go through own-property checks: `rec['constructor']` must not
 * find the inherited function. `__proto__` is the one key an assignment cannot create; callers
 * never use it (see `isSafeKey`).
 */
export type NumberMap = Record<string, number>;

const hasOwn = Object.prototype.hasOwnProperty;

/** Keys that can be stored as own properties by plain assignment. */
export function isSafeKey(key: string): boolean {
  return key !== '__proto__';
}

/** The own property `key` of `rec`, or undefined. */
export function own<T>(rec: Record<string, T>, key: string): T | undefined {
  return hasOwn.call(rec, key) ? rec[key] : undefined;
}

/** The number stored at `key`, 0 when absent (inherited members are not numbers). */
export function num(rec: NumberMap, key: string): number {
  const v = rec[key];
  return typeof v === 'number' ? v : 0;
}

/** Adds `by` at `key`; removes the key when the result is 0 so maps shrink back. */
export function inc(rec: NumberMap, key: string, by: number): void {
  const v = num(rec, key) + by;
  if (v === 0) delete rec[key];
  else rec[key] = v;
}
