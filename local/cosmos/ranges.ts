/**
 * Physical partition key ranges. Azure Cosmos DB splits a container into ranges of the effective
 * partition key (EPK, the hash of the partition key value) once it outgrows one physical
 * partition, and the change feed, the Functions trigger's leases and cross-partition queries are
 * per range. The embedded Cosmos DB can offer several ranges (`partitionRanges`) so that code is
 * exercised locally: each range owns an equal slice of the hash space, and an item belongs to the
 * range its V2 EPK falls in, hashed exactly as the SDK hashes it. Containers created with the older
 * V1 hash are split by the V2 hash too (V1 hashes cluster in a narrow band): for them the SDK's own
 * routing of a point or batch request may name another range, which changes nothing here, since
 * those requests are served by partition key whatever range they name.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { IncomingHttpHeaders } from 'node:http';

export interface KeyRange {
  id: string;
  minInclusive: string;
  maxExclusive: string;
}

interface PartitionKeyDefinition {
  paths?: string[];
  version?: number;
  kind?: string;
}

// The SDK's own hashing (not exported from its entry point), so EPKs match the SDK's routing.
const sdkRequire = createRequire(require.resolve('@azure/cosmos/package.json'));
const sdkDir = path.dirname(sdkRequire.resolve('@azure/cosmos/package.json'));
const { hashPartitionKey } = sdkRequire(path.join(sdkDir, 'dist/commonjs/utils/hashing/hash.js')) as {
  hashPartitionKey: (key: unknown[], definition: PartitionKeyDefinition) => string;
};

export const MAX_EPK = 'FF';

/**
 * `count` ranges (1..16) splitting the EPK space evenly by its first byte. A V2 EPK's first byte is
 * masked to 6 bits (00..3F), so that is the span divided; the last range runs to the end ("FF").
 */
export function rangesOf(count: number): KeyRange[] {
  const n = Number.isFinite(count) ? Math.max(1, Math.min(16, Math.floor(count))) : 1;
  const bounds = Array.from({ length: n + 1 }, (_, i) =>
    i === 0
      ? ''
      : i === n
        ? MAX_EPK
        : Math.floor((i * 64) / n)
            .toString(16)
            .toUpperCase()
            .padStart(2, '0'),
  );
  return Array.from({ length: n }, (_, i) => ({
    id: String(i),
    minInclusive: bounds[i] as string,
    maxExclusive: bounds[i + 1] as string,
  }));
}

/** The V2 EPK of a partition key value (`undefined` = the None partition, `[{}]` on the wire). */
export function epkOf(value: unknown): string {
  return hashPartitionKey([value === undefined ? {} : value], { kind: 'Hash', version: 2 });
}

const inRange = (epk: string, min: string, max: string) => epk >= min && (max === MAX_EPK || epk < max);

/**
 * The slice of the container a request is scoped to by `x-ms-documentdb-partitionkeyrangeid`
 * (narrowed further by `x-ms-start-epk` / `x-ms-end-epk`, which the SDK sends for part of a range),
 * as a test on an item's partition key value; undefined when the request is not range-scoped.
 */
export function rangeScope(
  headers: IncomingHttpHeaders,
  ranges: readonly KeyRange[],
): { range: KeyRange; contains: (partitionValue: unknown) => boolean } | undefined {
  const id = headers['x-ms-documentdb-partitionkeyrangeid'];
  if (typeof id !== 'string') return undefined;
  const range = ranges.find((r) => r.id === id);
  if (!range) return { range: { id, minInclusive: '', maxExclusive: '' }, contains: () => false };
  const start = headers['x-ms-start-epk'];
  const end = headers['x-ms-end-epk'];
  const min = typeof start === 'string' && start > range.minInclusive ? start : range.minInclusive;
  const max = typeof end === 'string' && end !== '' && end < range.maxExclusive ? end : range.maxExclusive;
  const cache = new Map<unknown, boolean>();
  return {
    range,
    contains: (value) => {
      let hit = cache.get(value);
      if (hit === undefined) {
        hit = inRange(epkOf(value), min, max);
        cache.set(value, hit);
      }
      return hit;
    },
  };
}
