// Key Vault for the one secret the app has, the participant-token signing key. RBAC only (no
// access policies); the app's identity holds Key Vault Secrets User (rbac.bicep) and reads the
// secret through a Key Vault reference in its settings.
param location string
param tags object
param name string

@secure()
param tokenSecret string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    // The minimum, so that `azd down --purge` and a new `azd up` do not collide for long.
    // Purge protection is left off: once on it can never be turned off again.
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

resource tokenSecretResource 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'meetstream-token-secret'
  properties: {
    value: tokenSecret
    contentType: 'text/plain'
  }
}

output name string = vault.name
// Version-less URI: the app picks up a new version on restart (or within 24 h), see docs/deploy.md.
output tokenSecretUri string = tokenSecretResource.properties.secretUri
