/**
 * The infra contract: checks that read infra/*.bicep and the code together. Each returns the
 * problems it finds (empty = the contract holds), so the tests can show both that the real
 * files pass and that a mutated copy (a setting, container or role removed) fails.
 */
import { COSMOS_CONNECTION_SETTING } from '../../lib/config';
import { get, identifiersIn, keysOf, textOf, type BicepProject, type BicepValue } from './bicep';
import {
  containersCreatedByCode,
  filteredAndSortedPaths,
  queriesInCode,
  readRecorded,
  settingsReadByConfig,
  settingsRequiredByConfig,
  webPubSubEventsPath,
  type CodeQuery,
} from './code';

export const API = 'app/api.bicep';
export const DB = 'app/db.bicep';
export const RBAC = 'app/rbac.bicep';
export const HUB = 'app/pubsub-hub.bicep';

/**
 * Settings read by the Functions host or the platform, not by lib/config.ts. Each is documented
 * by Microsoft for identity-based connections (Functions "Connections" / app settings reference).
 */
export const HOST_SETTINGS: Record<string, string> = {
  AzureWebJobsStorage__blobServiceUri: 'host storage, identity-based (blob only, as in the azd quickstart)',
  AzureWebJobsStorage__credential: 'host storage: managedidentity (required for a user-assigned identity)',
  AzureWebJobsStorage__clientId: 'host storage: which user-assigned identity',
  APPLICATIONINSIGHTS_CONNECTION_STRING:
    'where telemetry goes (an address once the component has local auth off)',
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING:
    'ClientId=<identity>;Authorization=AAD: identity-based ingestion',
  [`${COSMOS_CONNECTION_SETTING}__accountEndpoint`]: "the change-feed trigger's connection (identity-based)",
  [`${COSMOS_CONNECTION_SETTING}__credential`]: "the change-feed trigger's connection: managedidentity",
  [`${COSMOS_CONNECTION_SETTING}__clientId`]: "the change-feed trigger's connection: which identity",
};

/**
 * Settings the Bicep sets that lib/config.ts does not read yet. Empty since issue 10 item 1
 * (identity-based connections); kept so a setting added to the Bicep ahead of the code is named.
 */
export const PENDING_IN_CODE: Record<string, string> = {};

/** Required key-based settings of today's config and the identity setting that stands for each. */
export const REPLACED_BY_IDENTITY: Record<string, string> = {
  [COSMOS_CONNECTION_SETTING]: `${COSMOS_CONNECTION_SETTING}__accountEndpoint`,
  WebPubSubConnectionString: 'WebPubSubConnection__endpoint',
};

/** App settings Flex Consumption rejects or ignores ("Flex Consumption plan deprecations"). */
export const FLEX_FORBIDDEN_SETTINGS = [
  'FUNCTIONS_WORKER_RUNTIME',
  'FUNCTIONS_WORKER_RUNTIME_VERSION',
  'FUNCTIONS_EXTENSION_VERSION',
  'WEBSITE_NODE_DEFAULT_VERSION',
  'WEBSITE_RUN_FROM_PACKAGE',
  'WEBSITE_CONTENTSHARE',
  'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
  'WEBSITE_MOUNT_ENABLED',
  'SCM_DO_BUILD_DURING_DEPLOYMENT',
  'ENABLE_ORYX_BUILD',
  'WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT',
  'WEBSITE_TIME_ZONE',
  'TZ',
  'AzureWebJobsStorage',
];

/** Azure built-in role definition ids (fixed across tenants; "Azure built-in roles" reference). */
export const BUILT_IN_ROLES: Record<string, { name: string; scopeType: string }> = {
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': {
    name: 'Storage Blob Data Owner',
    scopeType: 'Microsoft.Storage/storageAccounts',
  },
  '3913510d-42f4-4e42-8a64-420c390055eb': {
    name: 'Monitoring Metrics Publisher',
    scopeType: 'Microsoft.Insights/components',
  },
  '12cf5a90-567b-43ae-8102-96cf46c7d9b4': {
    name: 'Web PubSub Service Owner',
    scopeType: 'Microsoft.SignalRService/webPubSub',
  },
  '4633458b-17de-408a-b874-0445c86b69e6': {
    name: 'Key Vault Secrets User',
    scopeType: 'Microsoft.KeyVault/vaults',
  },
};
/** Cosmos DB Built-in Data Contributor: a Cosmos DB data-plane role, granted with sqlRoleAssignments. */
export const COSMOS_DATA_CONTRIBUTOR = '00000000-0000-0000-0000-000000000002';

/** The object literal of app settings in app/api.bicep (what siteSettings' properties trace to). */
export function appSettings(p: BicepProject): BicepValue | undefined {
  const site = p.file(API).resources.find((r) => r.type === 'Microsoft.Web/sites/config');
  const v = p.trace(API, get(site?.body, 'properties')).value;
  return v?.kind === 'object' ? v : undefined;
}

/** A value for each app setting as the app would see it: literals resolved, others stand-ins. */
export function deployedEnv(p: BicepProject): Record<string, string> {
  const env: Record<string, string> = {};
  const settings = appSettings(p);
  for (const key of keysOf(settings)) {
    const literal = p.literal(API, get(settings, key));
    env[key] =
      literal ??
      (/(Endpoint|endpoint|ServiceUri)$/.test(key)
        ? 'https://placeholder.invalid/'
        : key === 'MEETSTREAM_TOKEN_SECRET'
          ? 'x'.repeat(48) // the length azd generates (checked in checkSecrets)
          : /(clientId|CLIENT_ID|TENANT_ID)$/.test(key)
            ? '00000000-0000-4000-8000-000000000000' // identities and tenants are GUIDs
            : 'placeholder');
  }
  return env;
}

export function checkSettings(p: BicepProject): string[] {
  const problems: string[] = [];
  const settings = appSettings(p);
  if (!settings) return ['app/api.bicep: the appsettings resource does not trace to an object literal'];
  const keys = keysOf(settings);
  const env = deployedEnv(p);
  const read = settingsReadByConfig(env);

  for (const key of keys) {
    if (!read.has(key) && !HOST_SETTINGS[key] && !PENDING_IN_CODE[key])
      problems.push(`${key} is set but neither lib/config.ts nor the Functions host reads it`);
    if (FLEX_FORBIDDEN_SETTINGS.includes(key)) problems.push(`${key} must not be set on Flex Consumption`);
  }
  for (const required of settingsRequiredByConfig()) {
    const stand = REPLACED_BY_IDENTITY[required];
    if (!keys.includes(required) && !(stand && keys.includes(stand)))
      problems.push(`${required} is required by lib/config.ts and not set`);
  }
  // What readConfig says about the deployed settings: nothing, except the two connection
  // strings the identity settings stand for until the code reads those.
  for (const problem of readRecorded(env).problems) {
    const name = /^(\S+)/.exec(problem)?.[1] ?? '';
    const stand = REPLACED_BY_IDENTITY[name];
    if (!(stand && keys.includes(stand) && problem === `${name} is required`))
      problems.push(`lib/config.ts refuses the deployed settings: ${problem}`);
  }

  // Identity-based connection groups: credential, client id and an endpoint, all one identity.
  const clientIds = new Set<string>();
  for (const key of keys.filter((k) => k.endsWith('__credential'))) {
    const prefix = key.slice(0, -'__credential'.length);
    if (p.literal(API, get(settings, key)) !== 'managedidentity')
      problems.push(`${key} must be managedidentity`);
    if (!keys.includes(`${prefix}__clientId`))
      problems.push(`${prefix}__clientId is missing (user-assigned identity)`);
    if (
      !keys.some((k) =>
        /^(accountEndpoint|endpoint|blobServiceUri|accountName)$/.test(k.slice(prefix.length + 2)),
      )
    )
      problems.push(`${prefix} has a credential but no endpoint`);
  }
  for (const key of keys.filter((k) => k.endsWith('__clientId')))
    clientIds.add(textOf(p.trace(API, get(settings, key)).value));
  if (clientIds.size > 1)
    problems.push(`the __clientId settings name different identities: ${[...clientIds]}`);

  // Names the app uses must be the names of what db.bicep and the hub create.
  const db = p.file(DB);
  const nameOf = (symbol: string) =>
    p.literal(DB, get(db.resources.find((r) => r.symbol === symbol)?.body, 'name'));
  const expectName = (setting: string, actual: string | undefined, what: string) => {
    if (env[setting] !== actual) problems.push(`${setting} (${env[setting]}) is not the ${what} (${actual})`);
  };
  expectName('COSMOS_DATABASE', nameOf('database'), 'database db.bicep creates');
  expectName('COSMOS_EVENTS_CONTAINER', nameOf('eventsContainer'), 'events container');
  expectName('COSMOS_MEETINGS_CONTAINER', nameOf('meetingsContainer'), 'meetings container');
  expectName('COSMOS_LEASES_CONTAINER', nameOf('leasesContainer'), 'leases container');
  const hub = p.file(HUB).resources.find((r) => r.type === 'Microsoft.SignalRService/webPubSub/hubs');
  expectName('WEBPUBSUB_HUB', p.literal(HUB, get(hub?.body, 'name')), 'hub pubsub-hub.bicep creates');
  if (env.COSMOS_CREATE_IF_NOT_EXISTS !== 'false')
    problems.push('COSMOS_CREATE_IF_NOT_EXISTS must be false: data-plane RBAC cannot create containers');
  return problems;
}

/** Is index path `/a/b` indexed under a policy? Most specific matching path wins; id and _ts always are. */
export function isIndexed(policy: BicepValue | undefined, path: string): boolean {
  if (path === '/id' || path === '/_ts') return true;
  if (!policy) return true; // no policy: the default indexes everything
  const patterns = (key: string) =>
    (get(policy, key)?.kind === 'array' ? (get(policy, key) as { items: BicepValue[] }).items : []).map((i) =>
      textOf(get(i, 'path')).replace(/^'|'$/g, ''),
    );
  let best: { len: number; included: boolean } | undefined;
  for (const [included, list] of [
    [true, patterns('includedPaths')],
    [false, patterns('excludedPaths')],
  ] as const) {
    for (const pattern of list) {
      const exact = pattern.endsWith('/?') && pattern.slice(0, -2) === path;
      const base = pattern.endsWith('/*') ? pattern.slice(0, -2) : undefined;
      const wild = base !== undefined && (base === '' || path === base || path.startsWith(base + '/'));
      if (!exact && !wild) continue;
      const len = pattern.length + (exact ? 1 : 0);
      if (!best || len > best.len) best = { len, included };
    }
  }
  return best?.included ?? false;
}

export async function checkContainers(p: BicepProject): Promise<string[]> {
  const problems: string[] = [];
  const code = await containersCreatedByCode();
  const db = p.file(DB);
  const dbResource = db.resources.find(
    (r) => r.type === 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases',
  );
  const dbName = p.literal(DB, get(dbResource?.body, 'name'));
  if (dbName !== code.database)
    problems.push(`database: code creates "${code.database}", db.bicep "${dbName}"`);

  const bicepContainers = db.resources
    .filter((r) => r.type === 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers')
    .map((r) => ({ r, name: p.literal(DB, get(r.body, 'name')) }));
  for (const c of code.containers) {
    const found = bicepContainers.find((b) => b.name === c.id);
    if (!found) {
      problems.push(`container ${c.id}: the code creates it, db.bicep does not`);
      continue;
    }
    const res = get(found.r.body, 'properties.resource');
    const idValue = p.literal(DB, get(res, 'id'));
    if (idValue !== c.id) problems.push(`container ${c.id}: resource.id is ${idValue}`);
    const paths = get(res, 'partitionKey.paths');
    const bicepPaths = paths?.kind === 'array' ? paths.items.map((i) => p.literal(DB, i)) : [];
    if (JSON.stringify(bicepPaths) !== JSON.stringify(c.partitionKeyPaths))
      problems.push(
        `container ${c.id}: partition key ${bicepPaths} in db.bicep, ${c.partitionKeyPaths} in the code`,
      );
    const ttl = p.literal(DB, get(res, 'defaultTtl'));
    const codeTtl = c.defaultTtl === undefined ? undefined : String(c.defaultTtl);
    if (ttl !== codeTtl)
      problems.push(`container ${c.id}: defaultTtl ${ttl} in db.bicep, ${codeTtl} in the code`);
    if (c.indexingPolicy !== undefined)
      problems.push(
        `container ${c.id}: the code now sets an indexing policy; compare it with db.bicep's here`,
      );
  }
  for (const b of bicepContainers)
    if (!code.containers.some((c) => c.id === b.name))
      problems.push(`container ${b.name}: db.bicep creates it, the code does not use it`);

  // Every path a query filters or sorts on is indexed, and nothing else is.
  const queries = queriesInCode();
  const containerOf = (kind: 'events' | 'meetings') =>
    bicepContainers.find(
      (b) =>
        b.name ===
        (kind === 'events' ? code.config.cosmos.eventsContainer : code.config.cosmos.meetingsContainer),
    );
  const used = new Map<string, Set<string>>();
  for (const q of queries) {
    const targets: ('events' | 'meetings')[] = q.container ? [q.container] : ['events', 'meetings'];
    for (const kind of targets) {
      const b = containerOf(kind);
      if (!b) continue;
      const policy = get(b.r.body, 'properties.resource.indexingPolicy');
      for (const path of filteredAndSortedPaths(q.sql)) {
        if (!used.has(kind)) used.set(kind, new Set());
        used.get(kind)?.add(path);
        if (!isIndexed(policy, path))
          problems.push(
            `${q.file}:${q.line} filters or sorts on ${path}, which the ${b.name} container does not index`,
          );
      }
    }
  }
  for (const kind of ['events', 'meetings'] as const) {
    const b = containerOf(kind);
    const included = get(b?.r.body, 'properties.resource.indexingPolicy.includedPaths');
    for (const item of included?.kind === 'array' ? included.items : []) {
      const pattern = p.literal(DB, get(item, 'path')) ?? '';
      const path = pattern.replace(/\/[?*]$/, '');
      if (pattern.endsWith('/*') || !used.get(kind)?.has(path))
        problems.push(`${b?.name}: ${pattern} is indexed but no query filters or sorts on it`);
    }
  }
  return problems;
}

/** Queries found in the code, for the tests to check that extraction found them all. */
export function codeQueries(): CodeQuery[] {
  return queriesInCode();
}

/** GUIDs a value names, directly or through vars. */
function guidsIn(p: BicepProject, file: string, value: BicepValue | undefined): string[] {
  const f = p.file(file);
  const direct = textOf(value).match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi) ?? [];
  const viaVars = identifiersIn(value).flatMap((n) => (f.vars.has(n) ? guidsIn(p, file, f.vars.get(n)) : []));
  return [...direct, ...viaVars].map((g) => g.toLowerCase());
}

export function checkRoles(p: BicepProject): string[] {
  const problems: string[] = [];
  const granted = new Set<string>();
  const apiIdentity = (text: string) => text.replace(/(PrincipalId|ClientId|Id)$/, '');
  const siteIdentity = apiIdentity(
    textOf(p.trace(API, { kind: 'expr', text: 'identityId' }).value), // what api.bicep's site runs as
  );
  for (const { file, resource } of p.allResources()) {
    if (resource.type === 'Microsoft.Authorization/roleAssignments') {
      const ids = guidsIn(p, file, get(resource.body, 'properties.roleDefinitionId'));
      const id = ids[0];
      const role = id ? BUILT_IN_ROLES[id] : undefined;
      if (ids.length !== 1 || !role || !id) {
        problems.push(
          `${file} ${resource.symbol}: role ${ids.join(',') || '?'} is not one of the documented roles`,
        );
        continue;
      }
      const scope = textOf(get(resource.body, 'scope'));
      const scoped = p.file(file).resources.find((r) => r.symbol === scope);
      if (scoped?.type !== role.scopeType)
        problems.push(
          `${file} ${resource.symbol}: ${role.name} is scoped to ${scoped?.type ?? scope}, not ${role.scopeType}`,
        );
      const principal = p.trace(file, get(resource.body, 'properties.principalId'));
      if (apiIdentity(textOf(principal.value)) !== siteIdentity)
        problems.push(
          `${file} ${resource.symbol}: granted to ${textOf(principal.value)}, not the app's identity`,
        );
      granted.add(role.name);
    } else if (resource.type === 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments') {
      const ids = guidsIn(p, file, get(resource.body, 'properties.roleDefinitionId'));
      if (JSON.stringify(ids) !== JSON.stringify([COSMOS_DATA_CONTRIBUTOR]))
        problems.push(`${file} ${resource.symbol}: Cosmos DB role ${ids} is not Built-in Data Contributor`);
      else granted.add('Cosmos DB Built-in Data Contributor');
      const principal = p.trace(file, get(resource.body, 'properties.principalId'));
      if (apiIdentity(textOf(principal.value)) !== siteIdentity)
        problems.push(
          `${file} ${resource.symbol}: granted to ${textOf(principal.value)}, not the app's identity`,
        );
      if (!textOf(get(resource.body, 'properties.roleDefinitionId')).includes('/sqlRoleDefinitions/'))
        problems.push(
          `${file} ${resource.symbol}: roleDefinitionId must be the account's sqlRoleDefinitions id`,
        );
    }
  }
  for (const need of [
    ...Object.values(BUILT_IN_ROLES).map((r) => r.name),
    'Cosmos DB Built-in Data Contributor',
  ])
    if (!granted.has(need)) problems.push(`the app's identity is not granted ${need}`);
  return problems;
}

const SECRET_READS =
  /\blist[A-Z]\w*\(|\.(primaryKey|secondaryKey|primaryMasterKey|primaryConnectionString|connectionStrings?)\b/;
const SECRET_TEXT = /AccountKey=|AccessKey=|SharedAccessKey=|SharedAccessSignature|password=/i;

export function checkSecrets(p: BicepProject): string[] {
  const problems: string[] = [];
  // No file reads a key or connection string from a resource (list*() functions return secrets).
  for (const [file, text] of p.texts) {
    const hit = /\blist[A-Z]\w*\(/.exec(text.replace(/\/\/[^\n]*/g, ''));
    if (hit) problems.push(`${file}: ${hit[0]} reads a secret from a resource`);
  }
  // Outputs: endpoints and names only.
  for (const [file, f] of p.files)
    for (const o of f.outputs) {
      const text = textOf(o.value);
      if (p.dependsOnSecure(file, o.value))
        problems.push(`${file}: output ${o.name} is computed from a secure param`);
      if (SECRET_READS.test(text) || /ConnectionString/i.test(text) || SECRET_TEXT.test(text))
        problems.push(`${file}: output ${o.name} exposes a key or connection string (${text})`);
    }
  // App settings: no key, connection string or secret, except the telemetry address.
  const settings = appSettings(p);
  for (const key of keysOf(settings)) {
    const v = get(settings, key);
    const text = textOf(v);
    if (p.dependsOnSecure(API, v)) problems.push(`app setting ${key} is computed from a secure param`);
    if (SECRET_TEXT.test(text) || SECRET_READS.test(text))
      problems.push(`app setting ${key} holds a key (${text})`);
    if (/ConnectionString/i.test(text) && key !== 'APPLICATIONINSIGHTS_CONNECTION_STRING')
      problems.push(`app setting ${key} holds a connection string (${text})`);
  }
  const insights = p
    .file('app/monitoring.bicep')
    .resources.find((r) => r.type === 'Microsoft.Insights/components');
  if (p.literal('app/monitoring.bicep', get(insights?.body, 'properties.DisableLocalAuth')) !== 'true')
    problems.push(
      'Application Insights must have DisableLocalAuth: true (then its connection string grants nothing)',
    );
  // The token secret reaches the app only as a Key Vault reference.
  const secretSetting = get(settings, 'MEETSTREAM_TOKEN_SECRET');
  if (
    secretSetting?.kind !== 'string' ||
    !/^@Microsoft\.KeyVault\(SecretUri=\$\{\w+\}\)$/.test(secretSetting.value)
  )
    problems.push('MEETSTREAM_TOKEN_SECRET must be a Key Vault reference');
  const site = p.file(API).resources.find((r) => r.type === 'Microsoft.Web/sites');
  if (!textOf(get(site?.body, 'properties.keyVaultReferenceIdentity')))
    problems.push(
      'the site must set keyVaultReferenceIdentity (a user-assigned identity resolves the reference)',
    );
  // Secure params go only to secure module params or a Key Vault secret's value.
  for (const [file, f] of p.files)
    for (const param of f.params.values()) {
      if (!param.decorators.some((d) => d.startsWith('@secure'))) continue;
      const generate = param.decorators.find((d) => d.includes("type: 'generate'"));
      const length = Number(/length:\s*(\d+)/.exec(generate ?? '')?.[1] ?? 0);
      if (file === 'main.bicep' && length < 32)
        problems.push(
          `${param.name}: azd must generate at least 32 characters (lib/config.ts requires 32 bytes)`,
        );
      {
        const other = f;
        for (const mod of other.modules)
          for (const e of get(mod.body, 'params')?.kind === 'object'
            ? (get(mod.body, 'params') as { entries: { key: string; value: BicepValue }[] }).entries
            : [])
            if (identifiersIn(e.value).includes(param.name)) {
              const target = p.file(p.modulePath(file, mod)).params.get(e.key);
              if (!target?.decorators.some((d) => d.startsWith('@secure')))
                problems.push(
                  `${file}: secure ${param.name} is passed to ${mod.path} ${e.key}, which is not @secure`,
                );
            }
        for (const r of other.resources) {
          const uses = identifiersIn(r.body).includes(param.name);
          const asSecretValue =
            r.type === 'Microsoft.KeyVault/vaults/secrets' &&
            textOf(get(r.body, 'properties.value')) === param.name;
          if (uses && !asSecretValue) problems.push(`${file}: secure ${param.name} is used by ${r.symbol}`);
        }
        for (const [name, v] of other.vars)
          if (identifiersIn(v).includes(param.name))
            problems.push(`${file}: secure ${param.name} is copied to var ${name}`);
      }
    }
  // Local auth off everywhere it can be.
  const expectLiteral = (file: string, type: string, dotted: string, want: string, why: string) => {
    for (const r of p.file(file).resources.filter((x) => x.type === type && !x.existing))
      if (p.literal(file, get(r.body, dotted)) !== want)
        problems.push(`${file} ${r.symbol}: ${dotted} must be ${want} (${why})`);
  };
  expectLiteral(
    DB,
    'Microsoft.DocumentDB/databaseAccounts',
    'properties.disableLocalAuth',
    'true',
    'no account keys',
  );
  expectLiteral(
    'app/storage.bicep',
    'Microsoft.Storage/storageAccounts',
    'properties.allowSharedKeyAccess',
    'false',
    'no shared keys',
  );
  expectLiteral(
    'app/pubsub.bicep',
    'Microsoft.SignalRService/webPubSub',
    'properties.disableLocalAuth',
    'true',
    'no access keys',
  );
  expectLiteral(
    'app/keyvault.bicep',
    'Microsoft.KeyVault/vaults',
    'properties.enableRbacAuthorization',
    'true',
    'RBAC, not access policies',
  );
  expectLiteral(
    API,
    'Microsoft.Web/sites/basicPublishingCredentialsPolicies',
    'properties.allow',
    'false',
    'no publishing passwords',
  );
  return problems;
}

export function checkFunctionApp(p: BicepProject): string[] {
  const problems: string[] = [];
  const api = p.file(API);
  const plan = api.resources.find((r) => r.type === 'Microsoft.Web/serverfarms');
  if (
    p.literal(API, get(plan?.body, 'sku.name')) !== 'FC1' ||
    p.literal(API, get(plan?.body, 'sku.tier')) !== 'FlexConsumption'
  )
    problems.push('the plan must be FC1 / FlexConsumption');
  const site = api.resources.find((r) => r.type === 'Microsoft.Web/sites');
  if (p.literal(API, get(site?.body, 'kind')) !== 'functionapp,linux')
    problems.push("the site's kind must be functionapp,linux");
  if (p.literal(API, get(site?.body, 'identity.type')) !== 'UserAssigned')
    problems.push('the site must run as a user-assigned identity');
  const runtime = get(site?.body, 'properties.functionAppConfig.runtime');
  if (p.literal(API, get(runtime, 'name')) !== 'node')
    problems.push('functionAppConfig.runtime.name must be node');
  const version = p.literal(API, get(runtime, 'version'));
  const allowed = p.main.params.get('nodeVersion')?.decorators.find((d) => d.startsWith('@allowed')) ?? '';
  if (
    !version ||
    !['20', '22'].includes(version) ||
    !/'20'|'22'/.test(allowed) ||
    /'(1\d|2[13-9])'/.test(allowed)
  )
    problems.push(`Node ${version}: the code needs 20 or 22 (engines >=20; Flex offers 20 and 22)`);
  const siteConfig = get(site?.body, 'properties.siteConfig');
  for (const forbidden of ['linuxFxVersion', 'appSettings', 'alwaysOn'])
    if (get(siteConfig, forbidden))
      problems.push(`siteConfig.${forbidden} must not be set on Flex Consumption`);
  const cors = get(siteConfig, 'cors.allowedOrigins');
  if (!cors)
    problems.push('siteConfig.cors.allowedOrigins must be set: the browser app calls the API cross-origin');
  const deployAuth = get(site?.body, 'properties.functionAppConfig.deployment.storage.authentication.type');
  if (p.literal(API, deployAuth) !== 'UserAssignedIdentity')
    problems.push('the deployment container must be read with the identity');
  return problems;
}

export function checkHub(p: BicepProject): string[] {
  const problems: string[] = [];
  const hub = p.file(HUB).resources.find((r) => r.type === 'Microsoft.SignalRService/webPubSub/hubs');
  if (!hub) return ['app/pubsub-hub.bicep: no hub'];
  const handlers = get(hub.body, 'properties.eventHandlers');
  const handler = handlers?.kind === 'array' ? handlers.items[0] : undefined;
  if (handlers?.kind !== 'array' || handlers.items.length !== 1)
    problems.push('the hub must have exactly one event handler');
  const events = get(handler, 'systemEvents');
  const names = events?.kind === 'array' ? events.items.map((e) => p.literal(HUB, e)).sort() : [];
  if (JSON.stringify(names) !== JSON.stringify(['connect', 'connected', 'disconnected']))
    problems.push(`system events ${names}: the app handles connect, connected and disconnected`);
  if (get(handler, 'userEventPattern'))
    problems.push('user events are routed, but webPubSubEvents refuses them');
  if (p.literal(HUB, get(handler, 'auth.type')) !== 'ManagedIdentity')
    problems.push(
      'event handler auth must be ManagedIdentity (with local auth off there is no ce-signature)',
    );
  const audience = p.trace(HUB, get(handler, 'auth.managedIdentity.resource'));
  const setting = p.trace(API, get(appSettings(p), 'WEBPUBSUB_EVENT_HANDLER_AUDIENCE'));
  if (textOf(audience.value) !== textOf(setting.value) || audience.file !== setting.file)
    problems.push(
      'the token audience the hub requests is not the WEBPUBSUB_EVENT_HANDLER_AUDIENCE the app checks',
    );
  // The URL: the app's real default hostname + the route the code registers.
  const url = p.trace(HUB, get(handler, 'urlTemplate'));
  const urlText = textOf(url.value);
  const hostOut = /\$\{(\w+)\.outputs\.(\w+)\}/.exec(urlText);
  const mod = p.file(url.file).modules.find((m) => m.symbol === hostOut?.[1]);
  const out = mod && p.file(p.modulePath(url.file, mod)).outputs.find((o) => o.name === hostOut?.[2]);
  if (textOf(out?.value) !== 'site.properties.defaultHostName')
    problems.push(`event handler URL ${urlText}: the host must be the site's defaultHostName`);
  const pathOut = /\$\{(\w+)\.outputs\.(\w+)\}'$/.exec(urlText);
  const pathOutput = mod && p.file(p.modulePath(url.file, mod)).outputs.find((o) => o.name === pathOut?.[2]);
  const pathValue = mod && p.literal(p.modulePath(url.file, mod), pathOutput?.value);
  if (pathValue !== webPubSubEventsPath())
    problems.push(
      `event handler path ${pathValue}: the webPubSubEvents function listens on ${webPubSubEventsPath()}`,
    );
  if (!urlText.startsWith("'https://")) problems.push('the event handler URL must be https');
  return problems;
}
