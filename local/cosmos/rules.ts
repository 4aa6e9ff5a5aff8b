/**
 * Rules Azure Cosmos DB enforces that upstream `@vercel/cosmosdb-server` does not, so code that
 * passes locally does not fail (or silently misbehave) on the service. Each is either the service's
 * own rule or a loud "not supported locally" refusal where emulating the feature would be a guess.
 * Errors carry `badRequest`, which the server (and the batch handler) answer as 400.
 */

export class CosmosRuleError extends Error {
  readonly badRequest = true;
}

const MAX_TTL_SECONDS = 2_147_483_647;

/** `ttl` and `defaultTtl`: -1 (never expire) or 1..2^31-1 whole seconds; 0, negatives, fractions, null refused. */
function isValidTtl(value: unknown): boolean {
  return (
    Number.isInteger(value) &&
    (value === -1 || ((value as number) >= 1 && (value as number) <= MAX_TTL_SECONDS))
  );
}

const ttlRule = `-1 (never expire) or a whole number of seconds from 1 to ${MAX_TTL_SECONDS}`;

/** Before an item is created or replaced. */
export function checkItem(doc: unknown): void {
  if (doc === null || typeof doc !== 'object' || !('ttl' in doc)) return;
  const ttl = (doc as { ttl: unknown }).ttl;
  if (!isValidTtl(ttl))
    throw new CosmosRuleError(`The item ttl ${JSON.stringify(ttl)} is invalid: it must be ${ttlRule}.`);
}

interface ContainerBody {
  defaultTtl?: unknown;
  partitionKey?: { paths?: unknown; kind?: unknown };
  computedProperties?: unknown;
}

/** Before a container is created or replaced. */
export function checkContainer(body: unknown): void {
  if (body === null || typeof body !== 'object') return;
  const c = body as ContainerBody;
  // Absent (or null, as some tools send) means TTL off.
  if (c.defaultTtl !== undefined && c.defaultTtl !== null && !isValidTtl(c.defaultTtl)) {
    throw new CosmosRuleError(
      `The container defaultTtl ${JSON.stringify(c.defaultTtl)} is invalid: it must be ${ttlRule}.`,
    );
  }
  const paths = c.partitionKey?.paths;
  if (c.partitionKey?.kind === 'MultiHash' || (Array.isArray(paths) && paths.length > 1)) {
    throw new CosmosRuleError(
      'Hierarchical partition keys (MultiHash) are not supported by the embedded Cosmos DB: it would key items on the first path only.',
    );
  }
  if (Array.isArray(c.computedProperties) && c.computedProperties.length > 0) {
    throw new CosmosRuleError('Computed properties are not supported by the embedded Cosmos DB.');
  }
}

/**
 * The logical partition an item belongs to. Cosmos DB hashes only strings, numbers, booleans and
 * null; an object or array at the partition key path is the "None" partition, the one the SDK
 * addresses as `[{}]`.
 */
export function partitionValueOf(value: unknown): unknown {
  return value !== null && typeof value === 'object' ? undefined : value;
}

// ---------- indexing policy ----------

export interface IndexingPolicy {
  indexingMode?: string;
  includedPaths?: Array<{ path?: string }>;
  excludedPaths?: Array<{ path?: string }>;
}

/** How specifically `pattern` (`/a/?`, `/a/*`, `/*`) covers `path` (`/a`), or -1 when it does not. */
function coverage(quoted: string, path: string): number {
  // Index paths may quote a segment (`/"_etag"/?`, the default policy's exclusion); paths here do not.
  const pattern = quoted.replace(/"([^"]*)"/g, '$1');
  if (pattern.endsWith('/?')) return pattern.slice(0, -2) === path ? 1000 : -1;
  if (pattern.endsWith('/*')) {
    const prefix = pattern.slice(0, -2);
    return prefix === '' || path === prefix || path.startsWith(prefix + '/') ? prefix.split('/').length : -1;
  }
  return -1;
}

/**
 * Whether a scalar property path has a range index under the policy: the most specific included or
 * excluded pattern decides (an exclusion wins a tie), as the service resolves overlapping paths. The
 * default policy (no paths listed) indexes everything; indexing mode "none" indexes nothing.
 */
export function isRangeIndexed(policy: IndexingPolicy | undefined, path: string): boolean {
  if (!policy) return true;
  if ((policy.indexingMode ?? 'consistent').toLowerCase() === 'none') return false;
  const included = policy.includedPaths ?? [];
  const excluded = policy.excludedPaths ?? [];
  if (included.length === 0 && excluded.length === 0) return true;
  const best = (list: Array<{ path?: string }>) =>
    Math.max(-1, ...list.map((p) => coverage(p.path ?? '', path)));
  const inc = best(included);
  const exc = best(excluded);
  return inc >= 0 && inc > exc;
}

interface AstNode {
  type?: string;
  [key: string]: unknown;
}

/** `c.a.b` / `c["a b"]` as `/a/b`, `/a b`; undefined for anything that is not a plain property path. */
function pathOf(node: AstNode | undefined): string | undefined {
  const parts: string[] = [];
  let n = node;
  while (n && n.type === 'scalar_member_expression') {
    const prop = n.property as AstNode;
    if (prop.type === 'identifier' && !n.computed) parts.unshift(String(prop.name));
    else if (prop.type === 'string_constant') parts.unshift(String(prop.value));
    else return undefined;
    n = n.object as AstNode;
  }
  if (!n || n.type !== 'identifier' || parts.length === 0) return undefined;
  return '/' + parts.join('/');
}

/**
 * A single-property ORDER BY needs a range index on that path: the service refuses the query
 * otherwise (multi-property ORDER BY and its composite indexes are checked by the query engine).
 */
export function checkOrderBy(ast: unknown, policy: IndexingPolicy | undefined): void {
  const body = (ast as { body?: { orderBy?: { expressions?: Array<{ expression?: AstNode }> } } }).body;
  const expressions = body?.orderBy?.expressions ?? [];
  if (expressions.length !== 1) return;
  const path = pathOf(expressions[0]?.expression);
  if (path !== undefined && !isRangeIndexed(policy, path)) {
    throw new CosmosRuleError(
      `ORDER BY ${path.slice(1).replace(/\//g, '.')} needs a range index on '${path}/?', which the container's indexing policy excludes.`,
    );
  }
}
