// The Function App on Flex Consumption (FC1, Linux) with the app's user-assigned identity, and
// every app setting the app gets. Settings are identity-based: endpoints plus
// `__credential=managedidentity` and `__clientId`, never a key. The runtime and its version are
// set in functionAppConfig: Flex rejects FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION,
// WEBSITE_RUN_FROM_PACKAGE and the content-share settings as app settings.
param location string
param tags object
param name string
param planName string
param nodeVersion string
param instanceMemoryMB int
param maximumInstanceCount int
param alwaysReadyHttpInstances int
param corsAllowedOrigins string

param identityId string
param identityClientId string
param storageBlobEndpoint string
param deploymentContainerName string
param applicationInsightsName string

param cosmosEndpoint string
param cosmosDatabaseName string
param cosmosEventsContainerName string
param cosmosMeetingsContainerName string
param cosmosLeasesContainerName string

param webPubSubEndpoint string
param webPubSubHostName string
param webPubSubHub string
param upstreamAudience string
param upstreamCallerClientId string

param tokenSecretUri string
param analyticsTickSchedule string
param presenceSweepSchedule string
param eventsWaitPollMs int

// host.json routePrefix `api` + the webPubSubEvents function's route (functions/webPubSubEvents.ts).
var webPubSubEventsPath = '/api/webpubsub/events'

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

var appSettings = {
  // Functions host storage (timers' locks and status, host keys): blob only, like the azd
  // quickstart; no trigger or binding here uses queues or tables.
  AzureWebJobsStorage__blobServiceUri: storageBlobEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId

  // Telemetry, accepted only with the identity's token (the component has local auth off).
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'

  // Cosmos DB. `CosmosDBConnection` is the connection name of the change-feed trigger
  // (lib/config.ts COSMOS_CONNECTION_SETTING): the host reads these for the trigger, and the
  // app's SDK client reads the same group.
  CosmosDBConnection__accountEndpoint: cosmosEndpoint
  CosmosDBConnection__credential: 'managedidentity'
  CosmosDBConnection__clientId: identityClientId
  COSMOS_DATABASE: cosmosDatabaseName
  COSMOS_EVENTS_CONTAINER: cosmosEventsContainerName
  COSMOS_MEETINGS_CONTAINER: cosmosMeetingsContainerName
  COSMOS_LEASES_CONTAINER: cosmosLeasesContainerName
  // Data-plane RBAC cannot create containers; db.bicep does.
  COSMOS_CREATE_IF_NOT_EXISTS: 'false'

  // Web PubSub REST calls and client tokens (:generateToken) with the app's identity.
  WebPubSubConnection__endpoint: webPubSubEndpoint
  WebPubSubConnection__credential: 'managedidentity'
  WebPubSubConnection__clientId: identityClientId
  WEBPUBSUB_HUB: webPubSubHub
  // The abuse-protection handshake's WebHook-Request-Origin (with a connection string the app
  // derives it from the endpoint).
  WEBPUBSUB_ALLOWED_ORIGINS: webPubSubHostName
  // What the event handler checks on the service's bearer token: aud, the issuing tenant, and
  // the client the token was issued to (the hub's identity).
  WEBPUBSUB_EVENT_HANDLER_AUDIENCE: upstreamAudience
  AZURE_TENANT_ID: tenant().tenantId
  WEBPUBSUB_EVENT_HANDLER_CLIENT_ID: upstreamCallerClientId

  // Signs participant tokens. A Key Vault reference: the value is resolved by the platform with
  // keyVaultReferenceIdentity and never appears in the site's configuration.
  MEETSTREAM_TOKEN_SECRET: '@Microsoft.KeyVault(SecretUri=${tokenSecretUri})'

  // Azure-tuned intervals (see main.bicep for what each costs).
  ANALYTICS_TICK_SCHEDULE: analyticsTickSchedule
  PRESENCE_SWEEP_SCHEDULE: presenceSweepSchedule
  EVENTS_WAIT_POLL_MS: string(eventsWaitPollMs)
}

var extraOrigins = filter(map(split(corsAllowedOrigins, ','), o => trim(o)), o => !empty(o))

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  // azd finds the deployment target by this tag.
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      // Platform CORS answers the browser's preflights (the app sends no CORS headers itself).
      // The Web PubSub handshake is not a CORS request (no Origin header), so it passes.
      cors: {
        allowedOrigins: union(['https://portal.azure.com'], extraOrigins)
        supportCredentials: false
      }
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: alwaysReadyHttpInstances > 0 ? [{ name: 'http', instanceCount: alwaysReadyHttpInstances }] : []
      }
      runtime: {
        name: 'node'
        version: nodeVersion
      }
    }
  }
}

resource siteSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: appSettings
}

// No publishing passwords: deployments authenticate with Entra ID (azd uses the signed-in user).
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
output webPubSubEventsPath string = webPubSubEventsPath
