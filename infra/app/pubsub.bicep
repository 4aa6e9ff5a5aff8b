// Web PubSub with local auth disabled: no access keys exist, the app calls the REST API with its
// identity (Web PubSub Service Owner, rbac.bicep) and client tokens come from :generateToken.
// The service's own identity is used only to sign in to the event handler (pubsub-hub.bicep).
param location string
param tags object
param name string

@allowed(['Standard_S1', 'Premium_P1'])
param skuName string
param units int
param identityId string

resource webPubSub 'Microsoft.SignalRService/webPubSub@2024-03-01' = {
  name: name
  location: location
  tags: tags
  kind: 'WebPubSub'
  sku: {
    name: skuName
    capacity: units
  }
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    disableLocalAuth: true
    disableAadAuth: false
    publicNetworkAccess: 'Enabled'
    tls: {
      clientCertEnabled: false
    }
  }
}

output name string = webPubSub.name
output hostName string = webPubSub.properties.hostName
output endpoint string = 'https://${webPubSub.properties.hostName}'
