/**
 * Runs a Cosmos DB change-feed trigger the way the Functions host's extension does, using only the
 * Cosmos SDK: read the monitored container's change feed, hand each batch to the function, and
 * checkpoint the continuation in a lease document after the function returns. A restarted runner
 * resumes from the checkpoint, so an interrupted batch is delivered again (at-least-once).
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
  owner: string;
  /** Epoch ms after which another instance may take the lease. */
  expiresAt: number;
  continuation: string | null;
  functionName: string;
  checkpointedAt?: string;
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
  private wake?: () => void;
  private leaseEtag?: string;
  private lease?: LeaseDocument;
  private leaseWrites: Promise<unknown> = Promise.resolve();
  private renewTimer?: NodeJS.Timeout;
  private leasesContainer?: Container;
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
        clearInterval(this.renewTimer);
        this.lease = undefined;
        this.leaseEtag = undefined;
        await this.sleep(delay);
        delay = Math.min(delay * 2, 10_000);
        continue;
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    clearInterval(this.renewTimer);
    await this.loop;
    // Give the lease up so another instance can take it without waiting for expiry.
    if (this.lease && this.leaseEtag) {
      await this.writeLease({ ...this.lease, expiresAt: 0 }).catch(() => undefined);
    }
  }

  private async run(): Promise<void> {
    const t = this.trigger;
    const name = this.opts.fn.metadata.name;
    const connection = setting(this.opts.env, String(t.connection), name);
    const monitored = clientFor(connection)
      .database(String(t.databaseName))
      .container(String(t.containerName));
    const leaseConnection = t.leaseConnection
      ? setting(this.opts.env, String(t.leaseConnection), name)
      : connection;
    const leaseDb = clientFor(leaseConnection).database(String(t.leaseDatabaseName ?? t.databaseName));
    const leaseContainerName = String(t.leaseContainerName ?? 'leases');
    let leases: Container;
    if (t.createLeaseContainerIfNotExists) {
      await leaseDb.client.databases.createIfNotExists({ id: leaseDb.id });
      leases = (await leaseDb.containers.createIfNotExists({ id: leaseContainerName, partitionKey: '/id' }))
        .container;
    } else {
      leases = leaseDb.container(leaseContainerName);
    }
    const leaseId = `${String(t.leaseContainerPrefix ?? '')}${String(t.databaseName)}.${String(t.containerName)}..${name}`;

    await this.acquireLease(leases, leaseId, monitored);
    this.renewTimer = setInterval(() => {
      if (this.lease)
        void this.writeLease({ ...this.lease, expiresAt: Date.now() + this.leaseExpirationMs }).catch(
          () => undefined,
        );
    }, this.leaseRenewMs);
    this.renewTimer.unref();

    // One iterator for as long as it reads on from the lease's continuation: a fresh one re-reads
    // the container's properties before its first page, which doubled the requests (and the CPU)
    // of every poll (bench/ops.ts).
    let iterator: ChangeFeedPullModelIterator<ItemDefinition> | undefined;
    let iteratorAt: string | null | undefined;
    while (!this.stopped) {
      if (!this.lease) {
        await this.acquireLease(leases, leaseId, monitored);
        continue;
      }
      const continuation = this.lease.continuation;
      if (!iterator || iteratorAt !== continuation) {
        iterator = monitored.items.getChangeFeedIterator<ItemDefinition>({
          changeFeedStartFrom: this.startPosition(continuation),
          maxItemCount: this.maxItems,
        });
      }
      const response = await iterator.readNext();
      iteratorAt = response.continuationToken ?? continuation;
      const docs = response.result ?? [];
      if (docs.length > 0) {
        await this.deliver(docs);
      }
      if (response.continuationToken && response.continuationToken !== continuation) {
        const ok = await this.checkpoint(response.continuationToken);
        if (!ok) {
          this.opts.log(`${name}: lease lost to another instance; re-acquiring`);
          await this.acquireLease(leases, leaseId, monitored);
          continue;
        }
      }
      // Like the host: poll again at once while there is more, wait feedPollDelay when caught up.
      if (docs.length === 0) await this.sleep(this.pollDelayMs);
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

  private async acquireLease(leases: Container, leaseId: string, monitored: Container): Promise<void> {
    this.leasesContainer = leases;
    while (!this.stopped) {
      const { resource, etag } = await leases.item(leaseId, leaseId).read<LeaseDocument>();
      const now = Date.now();
      if (!resource) {
        const lease: LeaseDocument = {
          id: leaseId,
          owner: this.opts.instanceId,
          expiresAt: now + this.leaseExpirationMs,
          continuation: await this.pinnedStart(monitored),
          functionName: this.opts.fn.metadata.name,
        };
        try {
          const created = await leases.items.create(lease);
          this.lease = lease;
          this.leaseEtag = created.etag;
          return;
        } catch (err) {
          if ((err as { code?: number }).code === 409) continue;
          throw err;
        }
      }
      if (resource.owner === this.opts.instanceId || resource.expiresAt < now) {
        const next = stripSystem({
          ...resource,
          owner: this.opts.instanceId,
          expiresAt: now + this.leaseExpirationMs,
        });
        try {
          const replaced = await leases
            .item(leaseId, leaseId)
            .replace(next, { accessCondition: { type: 'IfMatch', condition: etag ?? '' } });
          this.lease = next;
          this.leaseEtag = replaced.etag;
          return;
        } catch (err) {
          if ((err as { code?: number }).code === 412) continue;
          throw err;
        }
      }
      await this.sleep(this.leaseAcquireMs);
    }
  }

  /**
   * The configured start position as a durable continuation, taken when the lease is created, so
   * a restart never skips changes made between lease creation and the first checkpoint
   * (startFromBeginning / startFromTime are deterministic, "now" is not).
   */
  private async pinnedStart(monitored: Container): Promise<string | null> {
    if (this.trigger.startFromBeginning || this.trigger.startFromTime) return null;
    const probe = monitored.items.getChangeFeedIterator({
      changeFeedStartFrom: ChangeFeedStartFrom.Now(),
      maxItemCount: 1,
    });
    const res = await probe.readNext();
    return res.result.length === 0 && res.continuationToken ? res.continuationToken : null;
  }

  private startPosition(continuation: string | null | undefined): ChangeFeedStartFrom {
    if (continuation) return ChangeFeedStartFrom.Continuation(continuation);
    if (this.trigger.startFromBeginning) return ChangeFeedStartFrom.Beginning();
    if (this.trigger.startFromTime)
      return ChangeFeedStartFrom.Time(new Date(String(this.trigger.startFromTime)));
    return ChangeFeedStartFrom.Now();
  }

  private checkpoint(continuation: string): Promise<boolean> {
    if (!this.lease) return Promise.resolve(false);
    return this.writeLease({
      ...this.lease,
      continuation,
      expiresAt: Date.now() + this.leaseExpirationMs,
      checkpointedAt: new Date().toISOString(),
    });
  }

  /** Lease writes are serialised and etag-guarded: a 412 means another instance owns it now. */
  private writeLease(next: LeaseDocument): Promise<boolean> {
    const write = this.leaseWrites.then(async () => {
      if (!this.leaseEtag || !this.leasesContainer) return false;
      try {
        const res = await this.leasesContainer
          .item(next.id, next.id)
          .replace(next, { accessCondition: { type: 'IfMatch', condition: this.leaseEtag } });
        this.lease = next;
        this.leaseEtag = res.etag;
        return true;
      } catch (err) {
        if ((err as { code?: number }).code === 412) {
          this.lease = undefined;
          this.leaseEtag = undefined;
          return false;
        }
        throw err;
      }
    });
    this.leaseWrites = write.catch(() => undefined);
    return write;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

function stripSystem(doc: LeaseDocument): LeaseDocument {
  const { id, owner, expiresAt, continuation, functionName, checkpointedAt } = doc;
  return { id, owner, expiresAt, continuation, functionName, checkpointedAt };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
