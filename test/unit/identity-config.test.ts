/**
 * Identity-based connections in the configuration: the Functions convention
 * `CosmosDBConnection__accountEndpoint` (+ `__credential`, `__clientId`) beside the keyed
 * `CosmosDBConnection`, `WebPubSubConnection__endpoint` beside `WebPubSubConnectionString`, and
 * the Entra settings of the event handler's token check when Web PubSub has no access key.
 */
import { ConfigError, readConfig } from '../../lib/config';

const SECRET = 's'.repeat(40);
const CLIENT_ID = '11111111-2222-4333-8444-555555555555';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

const identityOnly = {
  CosmosDBConnection__accountEndpoint: 'https://acct.documents.azure.com:443/',
  CosmosDBConnection__credential: 'managedidentity',
  CosmosDBConnection__clientId: CLIENT_ID,
  WebPubSubConnection__endpoint: 'https://hub.webpubsub.azure.com',
  WebPubSubConnection__credential: 'managedidentity',
  WebPubSubConnection__clientId: CLIENT_ID,
  WEBPUBSUB_EVENT_HANDLER_AUDIENCE: 'api://meetstream-events',
  AZURE_TENANT_ID: TENANT,
  MEETSTREAM_TOKEN_SECRET: SECRET,
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    readConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

test('identity-only settings: both services use a managed identity with the client id, no keys', () => {
  const config = readConfig(identityOnly);
  expect(config.cosmos).toMatchObject({
    connectionSetting: 'CosmosDBConnection',
    endpoint: 'https://acct.documents.azure.com:443/',
    key: '',
    identity: { credential: 'managedidentity', clientId: CLIENT_ID },
  });
  expect(config.webPubSub).toMatchObject({
    connectionString: '',
    endpoint: 'https://hub.webpubsub.azure.com',
    identity: { credential: 'managedidentity', clientId: CLIENT_ID },
  });
  expect(config.delivery.webPubSubAccessKey).toBe('');
  expect(config.delivery.webPubSubOrigins).toEqual(['hub.webpubsub.azure.com']);
});

test('under identity the containers are not created by default (data-plane RBAC cannot), unless asked', () => {
  expect(readConfig(identityOnly).cosmos.createIfNotExists).toBe(false);
  expect(readConfig({ ...identityOnly, COSMOS_CREATE_IF_NOT_EXISTS: 'true' }).cosmos.createIfNotExists).toBe(
    true,
  );
  const keyed = {
    CosmosDBConnection: 'AccountEndpoint=https://acct.documents.azure.com:443/;AccountKey=abc==;',
    WebPubSubConnectionString: 'Endpoint=https://hub.webpubsub.azure.com;AccessKey=k;Version=1.0;',
    MEETSTREAM_TOKEN_SECRET: SECRET,
  };
  expect(readConfig(keyed).cosmos.createIfNotExists).toBe(true);
  expect(readConfig(keyed).cosmos.identity).toBeUndefined();
});

test('without __credential the default credential chain is used (az login locally)', () => {
  const config = readConfig({
    ...identityOnly,
    CosmosDBConnection__credential: '',
    CosmosDBConnection__clientId: '',
  });
  expect(config.cosmos.identity).toEqual({ credential: 'default' });
});

test('a connection string wins over the identity settings of the same prefix, as in the Functions host', () => {
  const config = readConfig({
    ...identityOnly,
    CosmosDBConnection: 'AccountEndpoint=https://other.documents.azure.com:443/;AccountKey=abc==;',
  });
  expect(config.cosmos).toMatchObject({ endpoint: 'https://other.documents.azure.com:443/', key: 'abc==' });
  expect(config.cosmos.identity).toBeUndefined();
});

test('the event handler checks Entra tokens from the tenant for the configured audience', () => {
  expect(readConfig(identityOnly).delivery.eventHandlerEntra).toEqual({
    audiences: ['api://meetstream-events'],
    issuers: [`https://login.microsoftonline.com/${TENANT}/v2.0`, `https://sts.windows.net/${TENANT}/`],
    jwksUri: `https://login.microsoftonline.com/${TENANT}/discovery/v2.0/keys`,
  });
  // Overrides for tests and sovereign clouds.
  const overridden = readConfig({
    ...identityOnly,
    AZURE_TENANT_ID: '',
    ENTRA_JWKS_URI: 'http://127.0.0.1:9/keys',
    ENTRA_ISSUER: 'https://issuer.example/a/, https://issuer.example/b/',
  });
  expect(overridden.delivery.eventHandlerEntra).toEqual({
    audiences: ['api://meetstream-events'],
    issuers: ['https://issuer.example/a/', 'https://issuer.example/b/'],
    jwksUri: 'http://127.0.0.1:9/keys',
  });
});

test('with an access key the event handler keeps checking ce-signature (no Entra settings needed)', () => {
  const config = readConfig({
    ...identityOnly,
    WebPubSubConnection__endpoint: '',
    WEBPUBSUB_EVENT_HANDLER_AUDIENCE: '',
    AZURE_TENANT_ID: '',
    WebPubSubConnectionString: 'Endpoint=https://hub.webpubsub.azure.com;AccessKey=k;Version=1.0;',
  });
  expect(config.delivery.webPubSubAccessKey).toBe('k');
  expect(config.delivery.eventHandlerEntra).toBeUndefined();
});

test('every identity problem is listed at once, naming the setting', () => {
  const problems = problemsOf({
    CosmosDBConnection__accountEndpoint: 'http://acct.documents.azure.com/',
    CosmosDBConnection__credential: 'clientsecret',
    CosmosDBConnection__clientId: 'not-a-guid',
    WebPubSubConnection__endpoint: 'hub.webpubsub.azure.com',
    MEETSTREAM_TOKEN_SECRET: SECRET,
  });
  expect(problems).toEqual(
    expect.arrayContaining([
      expect.stringContaining('CosmosDBConnection__accountEndpoint must be an https:// URL'),
      expect.stringContaining('CosmosDBConnection__credential must be "managedidentity"'),
      expect.stringContaining('CosmosDBConnection__clientId must be a client id (GUID)'),
      expect.stringContaining('WebPubSubConnection__endpoint must be an https:// URL'),
      expect.stringContaining('WEBPUBSUB_EVENT_HANDLER_AUDIENCE is required'),
      expect.stringContaining('AZURE_TENANT_ID (or ENTRA_JWKS_URI and ENTRA_ISSUER) is required'),
    ]),
  );
});

test('no connection at all names both ways to connect', () => {
  const problems = problemsOf({ MEETSTREAM_TOKEN_SECRET: SECRET });
  expect(problems).toEqual(
    expect.arrayContaining([
      'CosmosDBConnection (connection string) or CosmosDBConnection__accountEndpoint (identity) is required',
      'WebPubSubConnectionString (connection string) or WebPubSubConnection__endpoint (identity) is required',
    ]),
  );
});

test('the event handler may pin the calling client (the hub identity infra/ creates)', () => {
  const config = readConfig({
    ...identityOnly,
    WEBPUBSUB_EVENT_HANDLER_AUDIENCE: 'app-id-of-the-handler',
    AZURE_TENANT_ID: TENANT,
    WEBPUBSUB_EVENT_HANDLER_CLIENT_ID: CLIENT_ID,
  });
  expect(config.delivery.eventHandlerEntra).toEqual({
    audiences: ['app-id-of-the-handler'],
    issuers: [`https://login.microsoftonline.com/${TENANT}/v2.0`, `https://sts.windows.net/${TENANT}/`],
    jwksUri: `https://login.microsoftonline.com/${TENANT}/discovery/v2.0/keys`,
    clientIds: [CLIENT_ID],
  });
});
