/**
 * The Cosmos DB client and what every Cosmos adapter shares: the containers, creating and checking
 * them at start-up, and the few request patterns (status checks, transactional batches, the
 * optimistic etag loop) written once here.
 */
import {
  CosmosClient,
  type Container,
  type JSONObject,
  type OperationInput,
  type OperationResponse,
  type PatchOperation,
} from '@azure/cosmos';
import type { Config } from '../../config';
import { createCredential, type ConnectionOptions } from '../identity';

export interface CosmosContainers {
  client: CosmosClient;
  events: Container;
  meetings: Container;
}

export function createCosmosContainers(config: Config, options: ConnectionOptions = {}): CosmosContainers {
  const { identity } = config.cosmos;
  const client = new CosmosClient({
    endpoint: config.cosmos.endpoint,
    // The SDK asks for `<endpoint>/.default` (then https://cosmos.azure.com/.default) and sends
    // `Authorization: type=aad&ver=1.0&sig=<token>`; it refuses to send tokens over plain http.
    ...(identity !== undefined
      ? { aadCredentials: options.credential ?? createCredential(identity) }
      : { key: config.cosmos.key }),
    ...(options.agent !== undefined ? { agent: options.agent } : {}),
    connectionPolicy: { requestTimeout: 10_000 },
  });
  const db = client.database(config.cosmos.database);
  return {
    client,
    events: db.container(config.cosmos.eventsContainer),
    meetings: db.container(config.cosmos.meetingsContainer),
  };
}

/** Creates the database and containers if missing (local runs and first deployments). */
export async function ensureCosmosResources(config: Config, client: CosmosClient): Promise<void> {
  const { database } = await client.databases.createIfNotExists({ id: config.cosmos.database });
  await database.containers.createIfNotExists({
    id: config.cosmos.eventsContainer,
    partitionKey: '/meetingId',
  });
  // defaultTtl -1: TTL is on, items live forever unless they carry their own `ttl` (pages do).
  await database.containers.createIfNotExists({
    id: config.cosmos.meetingsContainer,
    partitionKey: '/meetingId',
    defaultTtl: -1,
  });
  await database.containers.createIfNotExists({ id: config.cosmos.leasesContainer, partitionKey: '/id' });
}

/**
 * Checks that the database and containers exist as the code needs them. createIfNotExists only
 * reads an existing container (its options are never applied to it), and under an identity
 * nothing is created at all, so a container made by hand or by infrastructure with another
 * partition key or without TTL would otherwise fail later, on first use or silently (pages that
 * never expire). Lists every problem.
 */
export async function verifyCosmosResources(config: Config, client: CosmosClient): Promise<void> {
  const { cosmos } = config;
  const expected = [
    { id: cosmos.eventsContainer, partitionKey: '/meetingId', ttl: undefined },
    // -1 exactly: a positive default would expire meetings, participants and states too.
    { id: cosmos.meetingsContainer, partitionKey: '/meetingId', ttl: -1 },
    { id: cosmos.leasesContainer, partitionKey: '/id', ttl: undefined },
  ];
  const problems: string[] = [];
  const describe = (err: unknown, what: string): string => {
    const code = (err as { code?: unknown } | null)?.code;
    if (code === 403 || code === 401) {
      return `${what} cannot be read (${String(code)}): the identity needs the Cosmos DB Built-in Data Contributor role on the account`;
    }
    return `${what} cannot be read: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
  };
  const database = client.database(cosmos.database);
  try {
    await database.read();
  } catch (err) {
    if (!isStatus(err, 404)) throw new Error(`meetstream: ${describe(err, `database '${cosmos.database}'`)}`);
    problems.push(`database '${cosmos.database}' does not exist`);
  }
  if (problems.length === 0) {
    for (const want of expected) {
      try {
        const { resource } = await database.container(want.id).read();
        const paths = resource?.partitionKey?.paths ?? [];
        if (paths.length !== 1 || paths[0] !== want.partitionKey) {
          problems.push(
            `container '${want.id}' has partition key ${paths.join(',') || '(none)'}, expected ${want.partitionKey}`,
          );
        }
        if (want.ttl !== undefined && resource?.defaultTtl !== want.ttl) {
          problems.push(
            resource?.defaultTtl === undefined || resource.defaultTtl === null
              ? `container '${want.id}' has no default TTL: it must be -1 (TTL on, items live until their own ttl)`
              : `container '${want.id}' has default TTL ${String(resource.defaultTtl)} s: it must be -1 (a positive default would expire meetings)`,
          );
        }
      } catch (err) {
        if (!isStatus(err, 404)) {
          problems.push(describe(err, `container '${want.id}'`));
          continue;
        }
        problems.push(`container '${want.id}' does not exist (partition key ${want.partitionKey})`);
      }
    }
  }
  if (problems.length > 0) {
    throw new Error(
      `meetstream: the Cosmos DB resources at ${cosmos.endpoint} are not as the app needs them` +
        (cosmos.createIfNotExists
          ? ''
          : ' (COSMOS_CREATE_IF_NOT_EXISTS is false, so nothing is created: create them in the infrastructure)') +
        `:\n  - ${problems.join('\n  - ')}`,
    );
  }
}

/** Documents are plain JSON; the SDK's batch types just cannot see that through our interfaces. */
/** Documents are plain JSON; the SDK's batch types just cannot see that through our interfaces. */
export const json = (doc: object) => doc as unknown as JSONObject;

/** The one check of an SDK error's status code. */
export const isStatus = (err: unknown, code: number) => (err as { code?: unknown } | null)?.code === code;

/**
 * The operation that failed a transactional batch, if any. A failed batch answers 424 (failed
 * dependency) for every other operation: the one that is not 424 says why.
 */
export function batchFailure(results: OperationResponse[] | undefined): OperationResponse | undefined {
  return (results ?? []).find((r) => r.statusCode >= 400 && r.statusCode !== 424);
}

/**
 * A transactional batch in one partition; returns false on a 409 when `conflictIsRetryable`,
 * throws otherwise.
 */
export async function batch(
  container: Container,
  meetingId: string,
  operations: OperationInput[],
  conflictIsRetryable = false,
): Promise<boolean> {
  // Callers look at statuses only: no copies of the written documents back.
  const response = await container.items.batch(operations, meetingId, {
    contentResponseOnWriteEnabled: false,
  });
  const failed = batchFailure(response.result);
  if (!failed) return true;
  if (failed.statusCode === 409 && conflictIsRetryable) return false;
  throw Object.assign(new Error(`transactional batch failed with ${failed.statusCode}`), {
    code: failed.statusCode,
  });
}

const MAX_PATCH_ATTEMPTS = 10;

/**
 * Optimistic read-check-patch: `decide` sees the stored document and returns the patch, or
 * undefined when the change does not apply (then undefined is returned, as for a missing
 * document). The patch is guarded by the etag read, and redone on the fresh document if another
 * writer got there first. (Checked in code, not with a patch `condition`: the embedded Cosmos DB
 * lower-cases conditions, which breaks camelCase property names.)
 */
export async function patchIf<T extends object>(
  container: Container,
  id: string,
  meetingId: string,
  decide: (doc: T) => PatchOperation[] | undefined,
): Promise<T | undefined> {
  const item = container.item(id, meetingId);
  for (let attempt = 1; ; attempt++) {
    const { resource, etag } = await item.read<T>();
    if (!resource) return undefined;
    const operations = decide(resource);
    if (!operations) return undefined;
    try {
      const patched = await item.patch<T>(operations, {
        accessCondition: { type: 'IfMatch', condition: etag },
      });
      return patched.resource;
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      if (!isStatus(err, 412) || attempt >= MAX_PATCH_ATTEMPTS) throw err;
    }
  }
}
