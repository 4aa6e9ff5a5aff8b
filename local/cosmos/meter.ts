/**
 * Bookkeeping for the estimated request charges (requestCharge.ts): what one request wrote, and
 * running totals per container, read on `GET /_embedded/stats`. The writes are reported by the
 * engine's hooks (the one choke point every create, replace, upsert, patch, batch op and delete
 * passes), found through the request's async context like the engine itself (patches.ts).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IndexingPolicy } from './rules';
import { type ItemWrite, itemBytes, itemWriteCharge } from './requestCharge';

/** One item write seen during a request, with the policy of the container it went to. */
export interface MeteredWrite extends ItemWrite {
  policy: IndexingPolicy | undefined;
}

/** What one request did; created by the server for every request. */
export class RequestMeter {
  readonly writes: MeteredWrite[] = [];

  record(write: MeteredWrite): void {
    this.writes.push(write);
  }

  /** Forgets the writes from `index` on: a rolled-back batch wrote nothing. */
  discardFrom(index: number): void {
    this.writes.length = Math.min(this.writes.length, index);
  }

  /** The estimated charge of the writes from `index` on. */
  chargeFrom(index: number, patch = false): number {
    let ru = 0;
    for (let i = index; i < this.writes.length; i += 1) {
      const w = this.writes[i]!;
      ru += itemWriteCharge(w, w.policy, patch);
    }
    return ru;
  }
}

export const requestMeter = new AsyncLocalStorage<RequestMeter>();

export interface OperationTotals {
  requests: number;
  requestCharge: number;
}

export interface ContainerTotals {
  requests: number;
  /** Estimated RU, the sum of the `x-ms-request-charge` answered. */
  requestCharge: number;
  /** Persisted bytes of every item version written (creates, replaces, upserts, patches). */
  bytesWritten: number;
  itemsWritten: number;
  itemsDeleted: number;
  /** By operation: create, replace, upsert, patch, delete, read, query, queryPlan, readFeed, changeFeed, batch, metadata. */
  byOperation: Record<string, OperationTotals>;
  /**
   * Change-feed pages that returned nothing (304), also counted under `changeFeed`: their cost is
   * set by the trigger's poll delay and shared by every meeting of a lease, not by the events.
   */
  emptyChangeFeedPages: OperationTotals;
}

export interface CostSnapshot {
  estimate: true;
  model: string;
  /** Keyed `database/container`. */
  containers: Record<string, ContainerTotals>;
  /** Requests not about one container (account, databases, container listing). */
  account: ContainerTotals;
}

function emptyTotals(): ContainerTotals {
  return {
    requests: 0,
    requestCharge: 0,
    bytesWritten: 0,
    itemsWritten: 0,
    itemsDeleted: 0,
    byOperation: {},
    emptyChangeFeedPages: { requests: 0, requestCharge: 0 },
  };
}

/** Running totals per container since the server started (or the last reset). */
export class CostStats {
  private containers = new Map<string, ContainerTotals>();
  private account = emptyTotals();

  record(
    container: string | undefined,
    operation: string,
    charge: number,
    writes: readonly ItemWrite[],
    emptyChangeFeedPage = false,
  ): void {
    let t = this.account;
    if (container !== undefined) {
      t = this.containers.get(container) ?? emptyTotals();
      this.containers.set(container, t);
    }
    t.requests += 1;
    t.requestCharge += charge;
    for (const w of writes) {
      if (w.doc !== undefined) {
        t.itemsWritten += 1;
        t.bytesWritten += itemBytes(w.doc);
      } else if (w.prev !== undefined) t.itemsDeleted += 1;
    }
    const op = (t.byOperation[operation] ??= { requests: 0, requestCharge: 0 });
    op.requests += 1;
    op.requestCharge += charge;
    if (emptyChangeFeedPage) {
      t.emptyChangeFeedPages.requests += 1;
      t.emptyChangeFeedPages.requestCharge += charge;
    }
  }

  reset(): void {
    this.containers = new Map();
    this.account = emptyTotals();
  }

  snapshot(): CostSnapshot {
    const round = (t: ContainerTotals): ContainerTotals => ({
      ...t,
      requestCharge: Math.round(t.requestCharge * 100) / 100,
      emptyChangeFeedPages: {
        requests: t.emptyChangeFeedPages.requests,
        requestCharge: Math.round(t.emptyChangeFeedPages.requestCharge * 100) / 100,
      },
      byOperation: Object.fromEntries(
        Object.entries(t.byOperation).map(([k, v]) => [
          k,
          { requests: v.requests, requestCharge: Math.round(v.requestCharge * 100) / 100 },
        ]),
      ),
    });
    return {
      estimate: true,
      model: 'local/cosmos/requestCharge.ts (see local/cosmos/README.md)',
      containers: Object.fromEntries([...this.containers].map(([k, v]) => [k, round(v)])),
      account: round(this.account),
    };
  }
}
