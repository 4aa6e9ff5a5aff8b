// Two user-assigned identities. The app's reaches Cosmos DB, Web PubSub, Storage, Key Vault and
// Application Insights. Web PubSub's only obtains the tokens it sends to the event handler, so
// a token the handler accepts can only come from the hub, never from the app's own identity.
param location string
param tags object
param apiIdentityName string
param pubSubIdentityName string

resource apiIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: apiIdentityName
  location: location
  tags: tags
}

resource pubSubIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: pubSubIdentityName
  location: location
  tags: tags
}

output apiIdentityId string = apiIdentity.id
output apiIdentityClientId string = apiIdentity.properties.clientId
output apiIdentityPrincipalId string = apiIdentity.properties.principalId
output pubSubIdentityId string = pubSubIdentity.id
output pubSubIdentityClientId string = pubSubIdentity.properties.clientId
output pubSubIdentityPrincipalId string = pubSubIdentity.properties.principalId
