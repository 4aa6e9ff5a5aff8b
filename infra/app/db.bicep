// Cosmos DB (NoSQL): the account with local (key) auth disabled, the database and every
// container the code uses. The containers must exist before the app starts: data-plane RBAC
// cannot create containers (403, substatus 5300), so the app runs with
// COSMOS_CREATE_IF_NOT_EXISTS=false and the change-feed trigger's createLeaseContainerIfNotExists
// only reads. Partition keys and TTL are the ones lib/adapters/cosmos.ts ensureCosmosResources()
// creates locally; test/infra checks both sides.
param location string
param tags object
param accountName string

@allowed(['serverless', 'autoscale'])
param throughputMode string
param sharedAutoscaleMaxThroughput int
param eventsAutoscaleMaxThroughput int

param databaseName string
param eventsContainerName string
param meetingsContainerName string
param leasesContainerName string

var serverless = throughputMode == 'serverless'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: accountName
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    // Keys cannot read or write data; only Entra identities with a data-plane role can.
    disableLocalAuth: true
    // Keys cannot change databases or containers either (they are managed here, through ARM).
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
    capabilities: serverless ? [{ name: 'EnableServerless' }] : []
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
    // Autoscale: meetings and leases share this; events has its own (below).
    options: serverless ? {} : { autoscaleSettings: { maxThroughput: sharedAutoscaleMaxThroughput } }
  }
}

// The event log: one document per ingested event, read through the change feed (which needs no
// index) and by the ingest path's duplicate check (meetingId + id). Indexing only meetingId keeps
// each event write at the size-based RU floor instead of paying for every property.
resource eventsContainer 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: eventsContainerName
  properties: {
    resource: {
      id: eventsContainerName
      partitionKey: {
        paths: ['/meetingId']
        kind: 'Hash'
        version: 2
      }
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        // id and _ts are always indexed; the partition key path is not, so it is listed.
        includedPaths: [
          { path: '/meetingId/?' }
        ]
        excludedPaths: [
          { path: '/*' }
        ]
      }
    }
    // Dedicated throughput under autoscale: its physical partitions are the change feed's leases.
    options: serverless ? {} : { autoscaleSettings: { maxThroughput: eventsAutoscaleMaxThroughput } }
  }
}

// Meeting, participant, poll, presence, state and page documents. State (~15 KB, deeply nested)
// is replaced and a page (up to 512 K characters) created per processed batch: with the default
// policy every leaf of those would be indexed on every write. Only the paths the queries filter
// or sort on are indexed (test/infra derives them from the code's SQL and checks this list).
resource meetingsContainer 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: meetingsContainerName
  properties: {
    resource: {
      id: meetingsContainerName
      partitionKey: {
        paths: ['/meetingId']
        kind: 'Hash'
        version: 2
      }
      // TTL on, no default expiry: documents live until they carry their own `ttl` (pages do).
      // Without defaultTtl the pages' ttl would be ignored and retention would never happen.
      defaultTtl: -1
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [
          { path: '/meetingId/?' }
          { path: '/type/?' }
          { path: '/lastSeq/?' }
          { path: '/firstSeq/?' }
          { path: '/checkAt/?' }
          { path: '/firstLsn/?' }
          { path: '/state/model/status/?' }
          { path: '/state/model/clock/?' }
        ]
        excludedPaths: [
          { path: '/*' }
        ]
      }
    }
  }
}

// The change-feed trigger's leases (one document per feed range). Small documents, default
// indexing: the change-feed processor's own queries on them are not ours to restrict.
resource leasesContainer 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: leasesContainerName
  properties: {
    resource: {
      id: leasesContainerName
      partitionKey: {
        paths: ['/id']
        kind: 'Hash'
        version: 2
      }
    }
  }
}

output accountName string = account.name
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
