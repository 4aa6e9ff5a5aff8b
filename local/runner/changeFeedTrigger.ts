/**
 * Runs a Cosmos DB change-feed trigger the way the Functions host's extension (the change feed
 * processor) does, using only the Cosmos SDK: one lease document per feed range of the monitored
 * container; each lease this instance owns reads its range's change feed, hands each batch to the
 * function and checkpoints the continuation in the lease after the function returns. Instances
 * share the leases: each renews what it owns and, every `leaseAcquireInterval`, takes a free or
 * expired lease, or steals one from an instance holding more than its fair share (leases / live
 * instances, rounded up). A stolen or restarted lease resumes from its checkpoint, so a batch in
 * flight during a handover is delivered again (at-least-once; the processor applies it once).
 *
 * Failure semantics match the real trigger: without a retry policy a failed batch is logged and
 * checkpointed past (lost to the function); with one (`retry` on app.cosmosDB) it is retried per
 * the policy first.
 */
import {
  ChangeFeedStartFrom,
  CosmosClient,
  type ChangeFeedPullModelIterator,
  type Container,
  type FeedRange,
  type ItemDefinition,
} from '@azure/cosmos';
import type { RegisteredFunction } from './functionsCore';
import { hostRetryDelayMs } from './hostRules';
import { invoke, triggerOf } from './invoke';

export interface ChangeFeedTriggerOptions {
  fn: RegisteredFunction;
  env: NodeJS.ProcessEnv;
  /** Identifies this runner as lease owner; a restarted runner with the same id resumes at once. */
  instanceId: string;
  log: (message: string) => void;
}

interface LeaseDocument extends ItemDefinition {
  id: string;
  /** Owning instance; '' when released. */
  owner: string;
  /** Epoch ms after which another instance may take the lease. */
  expiresAt: number;
  continuation: string | null;
  functionName: string;
  /** The feed range this lease covers (EPK bounds), for people reading the lease container. */
  range: { min: string; max: string };
  checkpointedAt?: string;
}

interface OwnedLease {
  doc: LeaseDocument;
  etag: string;
  /** Lease writes are serialised per lease. */
  writes: Promise<unknown>;
  worker?: Promise<void>;
}

const clients = new Map<string, CosmosClient>();
function clientFor(connectionString: string): CosmosClient {
  let client = clients.get(connectionString);
  if (!client) {
    client = new CosmosClient(connectionString);
    clients.set(connectionString, client);
  }
  return client;
}

function setting(env: NodeJS.ProcessEnv, name: string, fn: string): string {
  const value = env[name];
  if (!value)
    throw new Error(`Function "${fn}": app setting "${name}" (a Cosmos DB connection string) is not set.`);
  return value;
}

export class ChangeFeedTrigger {
  private stopped = false;
  private loop?: Promise<void>;
  private readonly sleepers = new Set<() => void>();
  private readonly owned = new Map<string, OwnedLease>();
  private renewTimer?: NodeJS.Timeout;
  private leases?: Container;
  private monitored?: Container;
  private ranges = new Map<string, FeedRange>();
  readonly description: string;

  private readonly trigger: ReturnType<typeof triggerOf>;
  private readonly pollDelayMs: number;
  private readonly maxItems: number;
  private readonly leaseExpirationMs: number;
  private readonly leaseRenewMs: number;
  private readonly leaseAcquireMs: number;

  constructor(private readonly opts: ChangeFeedTriggerOptions) {
    this.trigger = triggerOf(opts.fn);
    const num = (key: string, fallback: number) =>
      typeof this.trigger[key] === 'number' ? (this.trigger[key] as number) : fallback;
    this.pollDelayMs = num('feedPollDelay', 5000);
    this.maxItems = num('maxItemsPerInvocation', 100);
    this.leaseExpirationMs = num('leaseExpirationInterval', 60_000);
    this.leaseRenewMs = num('leaseRenewInterval', 17_000);
    this.leaseAcquireMs = num('leaseAcquireInterval', 13_000);
    this.description = `cosmosDBTrigger on ${String(this.trigger.databaseName)}/${String(this.trigger.containerName)}`;
  }

  start(): void {
    this.loop = this.supervise();
  }

  /** Lease ids this instance holds now (tests and diagnostics). */
  ownedLeases(): string[] {
    return [...this.owned.keys()].sort();
  }

  /** Keeps the feed running through Cosmos DB outages and missing containers, like the host's listener. */
  private async supervise(): Promise<void> {
    let delay = 500;
    while (!this.stopped) {
      const started = Date.now();
      try {
        await this.run();
      } catch (err) {
        if (Date.now() - started > 30_000) delay = 500;
        if (this.stopped) return;
        this.opts.log(
          `${this.opts.fn.metadata.name}: change feed error, retrying in ${delay} ms: ${errorText(err)}`,
        );
        await this.dropAll();
        await this.sleep(delay);
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of [...this.sleepers]) wake();
    clearInterval(this.renewTimer);
    await this.loop;
    await Promise.all([...this.owned.values()].map((l) => l.worker));
    // Give the leases up so another instance can take them without waiting for expiry.
    await Promise.all(
      [...this.owned.values()].map((l) =>
        this.writeLease(l.doc.id, (doc) => ({ ...doc, owner: '', expiresAt: 0 })).catch(() => false),
      ),
    );
    this.owned.clear();
  }

  private async run(): Promise<void> {
    const t = this.trigger;
    const name = this.opts.fn.metadata.name;
    const connection = setting(this.opts.env, String(t.connection), name);
    this.monitored = clientFor(connection)
      .database(String(t.databaseName))
      .container(String(t.containerName));
    const leaseConnection = t.leaseConnection
      ? setting(this.opts.env, String(t.leaseConnection), name)
      : connection;
    const leaseDb = clientFor(leaseConnection).database(String(t.leaseDatabaseName ?? t.databaseName));
    const leaseContainerName = String(t.leaseContainerName ?? 'leases');
    if (t.createLeaseContainerIfNotExists) {
      await leaseDb.client.databases.createIfNotExists({ id: leaseDb.id });
      this.leases = (
        await leaseDb.containers.createIfNotExists({ id: leaseContainerName, partitionKey: '/id' })
      ).container;
    } else {
      this.leases = leaseDb.container(leaseContainerName);
    }
    const base = `${String(t.leaseContainerPrefix ?? '')}${String(t.databaseName)}.${String(t.containerName)}..${name}`;
    const feedRanges = await this.monitored.getFeedRanges();
    this.ranges = new Map(feedRanges.map((r, i) => [`${base}.${i}`, r]));

    clearInterval(this.renewTimer);
    this.renewTimer = setInterval(() => this.renewAll(), this.leaseRenewMs);
    this.renewTimer.unref();
    while (!this.stopped) {
      await this.balance();
      await this.sleep(this.leaseAcquireMs);
    }
  }

  /**
   * One round of lease balancing, as the change feed processor's equal-partitions strategy: create
   * missing leases, then take free or expired ones up to the fair share, or else steal one from the
   * instance holding the most, if it holds more than the fair share.
   */
  private async balance(): Promise<void> {
    const leases = this.leases!;
    const now = Date.now();
    const docs: Array<{ doc: LeaseDocument; etag: string }> = [];
    for (const [id, range] of this.ranges) {
      const { resource, etag } = await leases.item(id, id).read<LeaseDocument>();
      if (resource && etag) {
        docs.push({ doc: resource, etag });
        continue;
      }
      const created = await this.createLease(id, range);
      if (created) docs.push(created);
    }
    const live = (d: LeaseDocument) => d.owner !== '' && d.expiresAt >= now;
    const byOwner = new Map<string, number>();
    for (const { doc } of docs) if (live(doc)) byOwner.set(doc.owner, (byOwner.get(doc.owner) ?? 0) + 1);
    byOwner.set(this.opts.instanceId, this.owned.size);
    const fairShare = Math.ceil(docs.length / byOwner.size);
    // A lease recorded as ours (a restart with the same instance id) is taken back at once.
    for (const d of docs)
      if (d.doc.owner === this.opts.instanceId && !this.owned.has(d.doc.id)) await this.take(d.doc, d.etag);
    if (this.owned.size >= fairShare) return;
    // Free and expired leases are taken up to the fair share at once; stealing is one per round.
    const free = docs.filter((d) => !live(d.doc) && !this.owned.has(d.doc.id));
    if (free.length > 0) {
      for (const d of free.slice(0, fairShare - this.owned.size)) await this.take(d.doc, d.etag);
      return;
    }
    let richest: string | undefined;
    for (const [owner, count] of byOwner)
      if (owner !== this.opts.instanceId && count > fairShare && (!richest || count > byOwner.get(richest)!))
        richest = owner;
    const victim = richest ? docs.find((d) => d.doc.owner === richest) : undefined;
    if (victim) {
      this.opts.log(
        `${this.opts.fn.metadata.name}: taking lease ${victim.doc.id} from ${richest} to balance`,
      );
      await this.take(victim.doc, victim.etag);
    }
  }

  private async createLease(
    id: string,
    range: FeedRange,
  ): Promise<{ doc: LeaseDocument; etag: string } | undefined> {
    const bounds = range as unknown as { minInclusive?: string; maxExclusive?: string };
    const doc: LeaseDocument = {
      id,
      owner: '',
      expiresAt: 0,
      continuation: await this.pinnedStart(range),
      functionName: this.opts.fn.metadata.name,
      range: { min: bounds.minInclusive ?? '', max: bounds.maxExclusive ?? '' },
    };
    try {
      const created = await this.leases!.items.create(doc);
      return { doc, etag: created.etag };
    } catch (err) {
      if ((err as { code?: number }).code === 409) return undefined; // another instance made it
      throw err;
    }
  }

  /** Takes a lease under its etag (a 412 means someone else changed it first) and starts its reader. */
  private async take(doc: LeaseDocument, etag: string): Promise<void> {
    const next = stripSystem({
      ...doc,
      owner: this.opts.instanceId,
      expiresAt: Date.now() + this.leaseExpirationMs,
    });
    try {
      const replaced = await this.leases!.item(doc.id, doc.id).replace(next, {
        accessCondition: { type: 'IfMatch', condition: etag },
      });
      const lease: OwnedLease = { doc: next, etag: replaced.etag, writes: Promise.resolve() };
      this.owned.set(doc.id, lease);
      lease.worker = this.read(doc.id);
    } catch (err) {
      if ((err as { code?: number }).code === 412) return;
      throw err;
    }
  }

  private renewAll(): void {
    for (const id of this.owned.keys())
      void this.writeLease(id, (doc) => ({ ...doc, expiresAt: Date.now() + this.leaseExpirationMs })).catch(
        () => undefined,
      );
  }

  /** Reads one owned lease's feed range until the lease is lost or the trigger stops. */
  private async read(leaseId: string): Promise<void> {
    const name = this.opts.fn.metadata.name;
    const range = this.ranges.get(leaseId);
    // One iterator for as long as it reads on from the lease's continuation: a fresh one re-reads
    // the container's properties before its first page, which doubled the requests (and the CPU)
    // of every poll (bench/ops.ts).
    let iterator: ChangeFeedPullModelIterator<ItemDefinition> | undefined;
    let iteratorAt: string | null | undefined;
    let delay = 500;
    while (!this.stopped) {
      const lease = this.owned.get(leaseId);
      if (!lease || !range) return;
      try {
        const continuation = lease.doc.continuation;
        if (!iterator || iteratorAt !== continuation) {
          iterator = this.monitored!.items.getChangeFeedIterator<ItemDefinition>({
            changeFeedStartFrom: this.startPosition(continuation, range),
            maxItemCount: this.maxItems,
          });
        }
        const response = await iterator.readNext();
        iteratorAt = response.continuationToken ?? continuation;
        const docs = response.result ?? [];
        if (docs.length > 0) await this.deliver(docs);
        if (response.continuationToken && response.continuationToken !== continuation) {
          const checkpoint = response.continuationToken;
          const ok = await this.writeLease(leaseId, (doc) => ({
            ...doc,
            continuation: checkpoint,
            expiresAt: Date.now() + this.leaseExpirationMs,
            checkpointedAt: new Date().toISOString(),
          }));
          if (!ok) {
            this.opts.log(`${name}: lease ${leaseId} lost to another instance`);
            return;
          }
        }
        delay = 500;
        // Like the host: poll again at once while there is more, wait feedPollDelay when caught up.
        if (docs.length === 0) await this.sleep(this.pollDelayMs);
      } catch (err) {
        if (this.stopped) return;
        this.opts.log(`${name}: change feed error on ${leaseId}, retrying in ${delay} ms: ${errorText(err)}`);
        iterator = undefined;
        await this.sleep(delay);
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  private async deliver(docs: ItemDefinition[]): Promise<void> {
    const fn = this.opts.fn;
    const retry = fn.metadata.retryOptions;
    const maxRetries = retry ? Number(retry.maxRetryCount ?? 0) : 0;
    for (let attempt = 0; ; attempt++) {
      try {
        await invoke(fn, {
          inputData: [{ name: this.trigger.name, data: { string: JSON.stringify(docs) } }],
          triggerMetadata: {},
          retryContext: retry ? { retryCount: attempt, maxRetryCount: maxRetries } : undefined,
        });
        return;
      } catch (err) {
        const canRetry = retry && (maxRetries === -1 || attempt < maxRetries) && !this.stopped;
        this.opts.log(
          `${fn.metadata.name}: batch of ${docs.length} failed (attempt ${attempt + 1})` +
            `${canRetry ? ', retrying' : retry ? ', retries exhausted, skipping' : ', no retry policy, skipping'}: ${errorText(err)}`,
        );
        if (!canRetry) return;
        await this.sleep(hostRetryDelayMs(retry, attempt));
      }
    }
  }

  /**
   * The configured start position as a durable continuation, taken when the lease is created, so
   * a restart never skips changes made between lease creation and the first checkpoint
   * (startFromBeginning / startFromTime are deterministic, "now" is not).
   */
  private async pinnedStart(range: FeedRange): Promise<string | null> {
    if (this.trigger.startFromBeginning || this.trigger.startFromTime) return null;
    const probe = this.monitored!.items.getChangeFeedIterator({
      changeFeedStartFrom: ChangeFeedStartFrom.Now(range),
      maxItemCount: 1,
    });
    const res = await probe.readNext();
    return res.result.length === 0 && res.continuationToken ? res.continuationToken : null;
  }

  private startPosition(continuation: string | null | undefined, range: FeedRange): ChangeFeedStartFrom {
    if (continuation) return ChangeFeedStartFrom.Continuation(continuation);
    if (this.trigger.startFromBeginning) return ChangeFeedStartFrom.Beginning(range);
    if (this.trigger.startFromTime)
      return ChangeFeedStartFrom.Time(new Date(String(this.trigger.startFromTime)), range);
    return ChangeFeedStartFrom.Now(range);
  }

  /** Etag-guarded and serialised per lease: false (and the lease dropped) when another instance owns it now. */
  private writeLease(leaseId: string, change: (doc: LeaseDocument) => LeaseDocument): Promise<boolean> {
    const lease = this.owned.get(leaseId);
    if (!lease) return Promise.resolve(false);
    const write = lease.writes.then(async () => {
      if (this.owned.get(leaseId) !== lease) return false;
      // Applied to the lease as it is after the writes queued before this one.
      const next = change(lease.doc);
      try {
        const res = await this.leases!.item(leaseId, leaseId).replace(stripSystem(next), {
          accessCondition: { type: 'IfMatch', condition: lease.etag },
        });
        lease.doc = stripSystem(next);
        lease.etag = res.etag;
        return true;
      } catch (err) {
        if ((err as { code?: number }).code === 412) {
          if (this.owned.get(leaseId) === lease) this.owned.delete(leaseId);
          return false;
        }
        throw err;
      }
    });
    lease.writes = write.catch(() => undefined);
    return write;
  }

  /** After a failure of the whole listener: forget what is owned (the leases expire or are retaken). */
  private async dropAll(): Promise<void> {
    clearInterval(this.renewTimer);
    const workers = [...this.owned.values()].map((l) => l.worker);
    this.owned.clear();
    await Promise.all(workers);
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }
}

function stripSystem(doc: LeaseDocument): LeaseDocument {
  const { id, owner, expiresAt, continuation, functionName, range, checkpointedAt } = doc;
  return { id, owner, expiresAt, continuation, functionName, range, checkpointedAt };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
