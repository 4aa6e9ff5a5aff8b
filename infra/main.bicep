// meetstream on Azure, keyless: every service authenticates with Microsoft Entra ID through
// user-assigned managed identities; no access key, connection string or password is created,
// read or stored. Layout follows the azd Functions quickstarts (main.bicep at subscription scope,
// one resource group, app/*.bicep modules). `azd up` provisions this and deploys; `azd down`
// deletes the resource group. See docs/deploy.md for what each resource costs.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; part of every resource name and tag.')
param environmentName string

// Regions that offer Flex Consumption (the azd quickstarts' list). Web PubSub and Cosmos DB
// serverless are available in all of them; check with `az functionapp list-flexconsumption-locations`.
@minLength(1)
@allowed([
  'australiaeast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'westcentralus'
  'westeurope'
  'westus2'
  'westus3'
])
@metadata({ azd: { type: 'location' } })
param location string

// ---- Cosmos DB ----

@description('serverless: pay per RU, nothing at idle, but each container is one physical partition (one change-feed lease, so one processor instance for all meetings; at most 5,000 RU/s). autoscale: billed for at least 10% of the maximum every hour, scales out the change feed with physical partitions.')
@allowed(['serverless', 'autoscale'])
param cosmosThroughputMode string = 'serverless'

@description('autoscale only: maximum RU/s shared by the meetings and leases containers (database throughput).')
@minValue(1000)
param cosmosSharedAutoscaleMaxThroughput int = 1000

@description('autoscale only: maximum RU/s of the events container (dedicated). One physical partition holds up to 10,000 RU/s, so 20,000 or more gives the change feed at least two leases to process in parallel.')
@minValue(1000)
param cosmosEventsAutoscaleMaxThroughput int = 1000

// Names the code defaults to (lib/config.ts); passed to the app as settings all the same.
param cosmosDatabaseName string = 'meetstream'
param cosmosEventsContainerName string = 'events'
param cosmosMeetingsContainerName string = 'meetings'
param cosmosLeasesContainerName string = 'leases'

// ---- Web PubSub ----

@description('Standard_S1: 1,000 connections per unit, 1,000,000 free messages per unit per day. Premium_P1 adds zone redundancy and autoscale. Free_F1 (20 connections) is not offered here.')
@allowed(['Standard_S1', 'Premium_P1'])
param webPubSubSku string = 'Standard_S1'

@description('Units: each holds 1,000 concurrent connections and is billed per day whether used or not. Plan for 80% use at peak.')
@allowed([1, 2, 5, 10, 20, 50, 100])
param webPubSubUnits int = 1

@description('Hub name; the app reads the same value as WEBPUBSUB_HUB.')
param webPubSubHub string = 'meetstream'

@description('Application (client) id of an existing Entra app registration to use as the audience of the tokens Web PubSub sends to the event handler. Empty: one is created (needs permission to register applications).')
param upstreamAppId string = ''

// ---- Functions ----

@description('Origins allowed to call the API from a browser (comma-separated, e.g. https://meet.example.com). The Azure portal is always allowed.')
param corsAllowedOrigins string = ''

@allowed(['20', '22'])
param nodeVersion string = '22'

@description('Flex Consumption instance size. Every execution bills memory x duration (at least 1 s), so this scales the idle cost of the timers directly.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Cap on instances per function group; 40 is the lowest value Flex accepts and bounds a runaway bill.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Always-ready instances for the HTTP group. 0 = scale to zero; connects then wait for a cold start. Each always-ready instance is billed around the clock.')
@minValue(0)
param alwaysReadyHttpInstances int = 0

@description('How often quiet meetings get their sliding windows moved (ANALYTICS_TICK_SCHEDULE). Every firing is a billed execution: 10 s is 8,640 a day, where the code default of 2 s is 43,200.')
param analyticsTickSchedule string = '*/10 * * * * *'

@description('Presence sweep (PRESENCE_SWEEP_SCHEDULE): the backstop for grace timers whose instance went away. 30 s is 2,880 executions a day; the code default of 5 s is 17,280.')
param presenceSweepSchedule string = '*/30 * * * * *'

@description('Long-poll and SSE "anything new?" poll (EVENTS_WAIT_POLL_MS): one small query per watched meeting per interval per instance. WebSocket clients are not affected.')
param eventsWaitPollMs int = 1000

// ---- the participant-token signing secret ----

// The one secret the app has: it signs participant tokens (HMAC), so it cannot be replaced by
// an identity. azd generates it once and keeps it in the environment's config; it goes straight
// into Key Vault and the app reads it through a Key Vault reference, never as a plain setting.
@secure()
@metadata({ azd: { type: 'generate', config: { length: 48, noSpecial: true } } })
param tokenSecret string

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = '${abbrs.webSitesFunctions}api-${resourceToken}'
// Flex reads the deployment package from this blob container.
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identities './app/identity.bicep' = {
  name: 'identities'
  scope: rg
  params: {
    location: location
    tags: tags
    apiIdentityName: '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    pubSubIdentityName: '${abbrs.managedIdentityUserAssignedIdentities}wps-${resourceToken}'
  }
}

module monitoring './app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
  }
}

module storage './app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    deploymentContainerName: deploymentContainerName
  }
}

module cosmos './app/db.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    location: location
    tags: tags
    accountName: '${abbrs.documentDBDatabaseAccounts}${resourceToken}'
    throughputMode: cosmosThroughputMode
    sharedAutoscaleMaxThroughput: cosmosSharedAutoscaleMaxThroughput
    eventsAutoscaleMaxThroughput: cosmosEventsAutoscaleMaxThroughput
    databaseName: cosmosDatabaseName
    eventsContainerName: cosmosEventsContainerName
    meetingsContainerName: cosmosMeetingsContainerName
    leasesContainerName: cosmosLeasesContainerName
  }
}

module vault './app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    location: location
    tags: tags
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    tokenSecret: tokenSecret
  }
}

module pubSub './app/pubsub.bicep' = {
  name: 'webpubsub'
  scope: rg
  params: {
    location: location
    tags: tags
    name: '${abbrs.signalRServiceWebPubSub}${resourceToken}'
    skuName: webPubSubSku
    units: webPubSubUnits
    identityId: identities.outputs.pubSubIdentityId
  }
}

// The audience of the tokens Web PubSub puts on event-handler calls: an app registration whose
// tokens only the hub's identity may obtain (app role assignment required).
module upstreamApp './app/upstream-app.bicep' = if (empty(upstreamAppId)) {
  name: 'upstream-app'
  scope: rg
  params: {
    uniqueName: 'meetstream-upstream-${resourceToken}'
    callerPrincipalId: identities.outputs.pubSubIdentityPrincipalId
  }
}

var upstreamAudience = empty(upstreamAppId) ? upstreamApp.outputs.appId : upstreamAppId

module api './app/api.bicep' = {
  name: 'api'
  scope: rg
  // Roles first, so the app's first start finds its Cosmos DB, Key Vault and storage access in
  // place (role propagation can still take a few minutes).
  dependsOn: [rbac]
  params: {
    location: location
    tags: tags
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    nodeVersion: nodeVersion
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    corsAllowedOrigins: corsAllowedOrigins
    identityId: identities.outputs.apiIdentityId
    identityClientId: identities.outputs.apiIdentityClientId
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmosDatabaseName
    cosmosEventsContainerName: cosmosEventsContainerName
    cosmosMeetingsContainerName: cosmosMeetingsContainerName
    cosmosLeasesContainerName: cosmosLeasesContainerName
    webPubSubEndpoint: pubSub.outputs.endpoint
    webPubSubHostName: pubSub.outputs.hostName
    webPubSubHub: webPubSubHub
    upstreamAudience: upstreamAudience
    upstreamCallerClientId: identities.outputs.pubSubIdentityClientId
    tokenSecretUri: vault.outputs.tokenSecretUri
    analyticsTickSchedule: analyticsTickSchedule
    presenceSweepSchedule: presenceSweepSchedule
    eventsWaitPollMs: eventsWaitPollMs
  }
}

// After the app: the event handler URL needs the app's real default hostname (Flex may give a
// unique one, <app>-<hash>.<region>-01.azurewebsites.net). Web PubSub checks the URL (abuse
// protection) only when an event is sent, so the hub can exist before the code is deployed.
module hub './app/pubsub-hub.bicep' = {
  name: 'webpubsub-hub'
  scope: rg
  params: {
    webPubSubName: pubSub.outputs.name
    hubName: webPubSubHub
    eventHandlerUrl: 'https://${api.outputs.defaultHostName}${api.outputs.webPubSubEventsPath}'
    upstreamAudience: upstreamAudience
  }
}

module rbac './app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identities.outputs.apiIdentityPrincipalId
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    cosmosAccountName: cosmos.outputs.accountName
    webPubSubName: pubSub.outputs.name
    keyVaultName: vault.outputs.name
  }
}

// azd copies these into .azure/<env>/.env. Endpoints and names only: nothing here grants access.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = 'https://${api.outputs.defaultHostName}'
output MEETSTREAM_API_URL string = 'https://${api.outputs.defaultHostName}/api'
output COSMOS_ACCOUNT_NAME string = cosmos.outputs.accountName
output COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output WEBPUBSUB_NAME string = pubSub.outputs.name
output WEBPUBSUB_ENDPOINT string = pubSub.outputs.endpoint
output WEBPUBSUB_HUB string = webPubSubHub
output WEBPUBSUB_UPSTREAM_AUDIENCE string = upstreamAudience
output AZURE_KEY_VAULT_NAME string = vault.outputs.name
