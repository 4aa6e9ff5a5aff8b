/**
 * infra/*.bicep against the code: settings, containers, indexes, roles, secrets, the Function
 * App and the Web PubSub hub. Each check passes on the real files and fails on a copy with one
 * thing removed or changed (mutated() refuses a mutation that matches nothing).
 */
import { BicepProject, mutated } from './bicep';
import { filteredAndSortedPaths } from './code';
import {
  API,
  DB,
  HUB,
  PENDING_IN_CODE,
  RBAC,
  appSettings,
  checkContainers,
  checkFunctionApp,
  checkHub,
  checkRoles,
  checkSecrets,
  checkSettings,
  codeQueries,
  deployedEnv,
  isIndexed,
} from './contract';
import { keysOf, parseBicep } from './bicep';
import { settingsReadByConfig } from './code';

const project = BicepProject.load();

describe('app settings', () => {
  test('every setting is read by lib/config.ts or the host, every required one is set, and the values validate', () => {
    expect(checkSettings(project)).toEqual([]);
  });

  test("the settings lib/config.ts does not read are the host's own", () => {
    // Deployed values, so the identity branches of the config (read only with identity) run too.
    const read = settingsReadByConfig(deployedEnv(project));
    const notRead = keysOf(appSettings(project)).filter((k) => !read.has(k));
    // The host reads these (Application Insights, its own storage); see HOST_SETTINGS.
    expect(notRead.filter((k) => !(k in PENDING_IN_CODE)).sort()).toEqual([
      'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
      'APPLICATIONINSIGHTS_CONNECTION_STRING',
      'AzureWebJobsStorage__blobServiceUri',
      'AzureWebJobsStorage__clientId',
      'AzureWebJobsStorage__credential',
    ]);
  });

  test.each([
    [
      'a required setting removed',
      /\n {2}MEETSTREAM_TOKEN_SECRET: [^\n]*/,
      '',
      /MEETSTREAM_TOKEN_SECRET is required/,
    ],
    [
      'the Cosmos DB endpoint removed',
      /\n {2}CosmosDBConnection__accountEndpoint: [^\n]*/,
      '',
      /CosmosDBConnection__accountEndpoint \(identity\) is required/,
    ],
    [
      'a misspelt setting',
      'COSMOS_DATABASE: cosmosDatabaseName',
      'COSMOS_DATABSE: cosmosDatabaseName',
      /COSMOS_DATABSE is set but/,
    ],
    [
      'container creation turned on',
      "COSMOS_CREATE_IF_NOT_EXISTS: 'false'",
      "COSMOS_CREATE_IF_NOT_EXISTS: 'true'",
      /must be false/,
    ],
    [
      'the client id of an identity removed',
      /\n {2}WebPubSubConnection__clientId: [^\n]*/,
      '',
      /WebPubSubConnection__clientId is missing/,
    ],
    [
      'FUNCTIONS_WORKER_RUNTIME added',
      'WEBPUBSUB_HUB: webPubSubHub',
      "WEBPUBSUB_HUB: webPubSubHub\n  FUNCTIONS_WORKER_RUNTIME: 'node'",
      /FUNCTIONS_WORKER_RUNTIME must not be set/,
    ],
  ])('fails with %s', (_what, from, to, expected) => {
    expect(checkSettings(mutated(project, API, from, to)).join('\n')).toMatch(expected);
  });

  test('fails when a schedule the app would refuse is deployed', () => {
    const bad = mutated(
      project,
      'main.bicep',
      "param analyticsTickSchedule string = '*/10 * * * * *'",
      "param analyticsTickSchedule string = '*/10 * * * *'",
    );
    expect(checkSettings(bad).join('\n')).toMatch(
      /refuses the deployed settings: ANALYTICS_TICK_SCHEDULE must be a six-field/,
    );
  });

  test('fails when the app is pointed at a container db.bicep does not create', () => {
    const bad = mutated(
      project,
      'main.bicep',
      '    cosmosMeetingsContainerName: cosmosMeetingsContainerName',
      "    cosmosMeetingsContainerName: 'rooms'",
    );
    expect(checkSettings(bad).join('\n')).toMatch(
      /COSMOS_MEETINGS_CONTAINER \(rooms\) is not the meetings container \(meetings\)/,
    );
  });
});

describe('Cosmos DB containers and indexes', () => {
  test('the database and containers match what the code creates locally, and every queried path is indexed (nothing else)', async () => {
    expect(await checkContainers(project)).toEqual([]);
  });

  test('the query extraction finds the SQL the code sends', () => {
    const queries = codeQueries();
    expect(queries.length).toBeGreaterThanOrEqual(10);
    for (const q of queries) expect(q.sql).toMatch(/^SELECT /);
    expect(queries.filter((q) => q.container === 'events').length).toBeGreaterThanOrEqual(1);
    expect(
      filteredAndSortedPaths(
        "SELECT TOP 1 VALUE c.lastSeq FROM c WHERE c.type = 'page' ORDER BY c.lastSeq DESC",
      ),
    ).toEqual(['/type', '/lastSeq']);
    expect(
      filteredAndSortedPaths("SELECT * FROM c WHERE c.state.model.status = 'live' AND c['x-y'] > 1"),
    ).toEqual(['/state/model/status', '/x-y']);
  });

  test('index path rules: the most specific path wins; id and _ts are always indexed', () => {
    const p = parseBicep(
      "var p = {\n includedPaths: [{ path: '/a/?' }, { path: '/b/*' }]\n excludedPaths: [{ path: '/*' }, { path: '/b/c/?' }]\n}",
    ).vars.get('p');
    expect(['/a', '/a/x', '/b', '/b/x/y', '/b/c', '/z', '/id', '/_ts'].map((x) => isIndexed(p, x))).toEqual([
      true,
      false,
      true,
      true,
      false,
      false,
      true,
      true,
    ]);
  });

  test.each([
    [
      'the leases container removed',
      /\n\/\/ The change-feed trigger's leases[\s\S]*?\n}\n/,
      '\n',
      /container leases: the code creates it, db.bicep does not/,
    ],
    [
      'a partition key changed',
      "paths: ['/id']",
      "paths: ['/leaseId']",
      /container leases: partition key \/leaseId/,
    ],
    [
      "the meetings container's defaultTtl removed",
      '      defaultTtl: -1\n',
      '',
      /container meetings: defaultTtl undefined in db.bicep, -1 in the code/,
    ],
    [
      'a queried path no longer indexed',
      "          { path: '/checkAt/?' }\n",
      '',
      /filters or sorts on \/checkAt, which the meetings container does not index/,
    ],
    [
      'an index no query needs',
      "          { path: '/firstLsn/?' }\n",
      "          { path: '/firstLsn/?' }\n          { path: '/participantId/?' }\n",
      /\/participantId\/\? is indexed but no query/,
    ],
    [
      'everything indexed again on events',
      "{ path: '/meetingId/?' }\n        ]",
      "{ path: '/*' }\n        ]",
      /events: \/\* is indexed but no query/,
    ],
  ])('fails with %s', async (_what, from, to, expected) => {
    expect((await checkContainers(mutated(project, DB, from, to))).join('\n')).toMatch(expected);
  });
});

describe('role assignments', () => {
  test("the app's identity holds every role it needs, each a documented built-in id on the right resource", () => {
    expect(checkRoles(project)).toEqual([]);
  });

  test.each([
    [
      'the Cosmos DB data-plane role removed',
      /\nresource cosmosRole [\s\S]*$/,
      '\n',
      /not granted Cosmos DB Built-in Data Contributor/,
    ],
    [
      'the Web PubSub role removed',
      /\nresource webPubSubRole [\s\S]*?\n}\n/,
      '\n',
      /not granted Web PubSub Service Owner/,
    ],
    [
      'a mistyped role id',
      "'12cf5a90-567b-43ae-8102-96cf46c7d9b4'",
      "'12cf5a90-567b-43ae-8102-96cf46c7d9b5'",
      /is not one of the documented roles/,
    ],
    [
      'Owner instead of Blob Data Owner',
      "'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'",
      "'8e3af657-a8ff-443c-a75c-2fe8c4bcb635'",
      /is not one of the documented roles/,
    ],
    [
      'a role on the wrong resource',
      'scope: vault\n',
      'scope: storage\n',
      /Key Vault Secrets User is scoped to Microsoft.Storage/,
    ],
    [
      'the Cosmos role as a control-plane role',
      "var cosmosBuiltInDataContributor = '00000000-0000-0000-0000-000000000002'",
      "var cosmosBuiltInDataContributor = '00000000-0000-0000-0000-000000000001'",
      /not Built-in Data Contributor/,
    ],
  ])('fails with %s', (_what, from, to, expected) => {
    expect(checkRoles(mutated(project, RBAC, from, to)).join('\n')).toMatch(expected);
  });
});

describe('no keys, connection strings or secrets', () => {
  test('outputs and settings carry endpoints and names only; the token secret goes through Key Vault; local auth is off everywhere', () => {
    expect(checkSecrets(project)).toEqual([]);
  });

  test.each([
    [
      'a key read with listKeys()',
      API,
      '  WEBPUBSUB_HUB: webPubSubHub\n',
      '  WEBPUBSUB_HUB: webPubSubHub\n  X: applicationInsights.listKeys().keys[0].value\n',
      /listKeys\( reads a secret/,
    ],
    [
      'the secret as a plain setting',
      API,
      "'@Microsoft.KeyVault(SecretUri=${tokenSecretUri})'",
      'tokenSecretUri',
      /must be a Key Vault reference/,
    ],
    [
      'Cosmos DB keys back on',
      DB,
      'disableLocalAuth: true',
      'disableLocalAuth: false',
      /disableLocalAuth must be true/,
    ],
    [
      'storage shared keys back on',
      'app/storage.bicep',
      'allowSharedKeyAccess: false',
      'allowSharedKeyAccess: true',
      /allowSharedKeyAccess must be false/,
    ],
    [
      'Web PubSub access keys back on',
      'app/pubsub.bicep',
      'disableLocalAuth: true',
      'disableLocalAuth: false',
      /disableLocalAuth must be true/,
    ],
    [
      'a connection string in an output',
      'main.bicep',
      'output AZURE_KEY_VAULT_NAME string = vault.outputs.name',
      "output AZURE_KEY_VAULT_NAME string = vault.outputs.name\noutput COSMOS_CONNECTION string = 'AccountEndpoint=x;AccountKey=y'",
      /output COSMOS_CONNECTION exposes/,
    ],
    [
      'the secure param in an output',
      'main.bicep',
      'output AZURE_KEY_VAULT_NAME string = vault.outputs.name',
      'output AZURE_KEY_VAULT_NAME string = vault.outputs.name\noutput LEAK string = tokenSecret',
      /output LEAK is computed from a secure param/,
    ],
    [
      'a generated secret shorter than the code accepts',
      'main.bicep',
      'length: 48',
      'length: 16',
      /at least 32 characters/,
    ],
  ])('fails with %s', (_what, file, from, to, expected) => {
    expect(checkSecrets(mutated(project, file, from, to)).join('\n')).toMatch(expected);
  });
});

describe('the Function App on Flex Consumption', () => {
  test('FC1, Linux, node 20/22 in functionAppConfig, user-assigned identity, CORS, identity-based deployment', () => {
    expect(checkFunctionApp(project)).toEqual([]);
  });

  test.each([
    ['CORS removed', /\n {6}cors: \{[\s\S]*?\n {6}\}/, '', /cors.allowedOrigins must be set/],
    ['Node 18', 'version: nodeVersion', "version: '18'", /Node 18/],
    ['a Consumption (Y1) plan', "name: 'FC1'", "name: 'Y1'", /FC1 \/ FlexConsumption/],
    [
      'linuxFxVersion set',
      "minTlsVersion: '1.2'",
      "minTlsVersion: '1.2'\n      linuxFxVersion: 'Node|22'",
      /linuxFxVersion must not be set/,
    ],
  ])('fails with %s', (_what, from, to, expected) => {
    expect(checkFunctionApp(mutated(project, API, from, to)).join('\n')).toMatch(expected);
  });
});

describe('the Web PubSub hub', () => {
  test("one event handler at the app's real hostname + the webPubSubEvents route, system events only, Entra token for the audience the app checks", () => {
    expect(checkHub(project)).toEqual([]);
  });

  test.each([
    [
      'a system event missing',
      "systemEvents: ['connect', 'connected', 'disconnected']",
      "systemEvents: ['connect', 'connected']",
      /system events connect,connected/,
    ],
    [
      'user events routed',
      "systemEvents: ['connect', 'connected', 'disconnected']",
      "systemEvents: ['connect', 'connected', 'disconnected']\n        userEventPattern: '*'",
      /user events are routed/,
    ],
    ['no authentication', "type: 'ManagedIdentity'", "type: 'None'", /auth must be ManagedIdentity/],
  ])('fails with %s', (_what, from, to, expected) => {
    expect(checkHub(mutated(project, HUB, from, to)).join('\n')).toMatch(expected);
  });

  test('fails when the URL is not the route the function listens on, or not the real hostname', () => {
    const path = mutated(
      project,
      API,
      "var webPubSubEventsPath = '/api/webpubsub/events'",
      "var webPubSubEventsPath = '/api/webpubsub'",
    );
    expect(checkHub(path).join('\n')).toMatch(/listens on \/api\/webpubsub\/events/);
    const host = mutated(
      project,
      API,
      'output defaultHostName string = site.properties.defaultHostName',
      "output defaultHostName string = '${name}.azurewebsites.net'",
    );
    expect(checkHub(host).join('\n')).toMatch(/must be the site's defaultHostName/);
  });
});
