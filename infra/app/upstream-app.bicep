// An Entra app registration that stands for the event handler: Web PubSub asks Entra for a token
// whose audience (aud) is this app's id, and the handler accepts only such tokens. Assignment is
// required, and only the hub's identity is assigned, so no other identity in the tenant can
// obtain a token the handler would accept. Needs permission to register applications; pass an
// existing app id as upstreamAppId to skip this module.
extension microsoftGraphV1

param uniqueName string
@description('Principal (object) id of the identity Web PubSub signs in with.')
param callerPrincipalId string

var roleValue = 'WebPubSub.EventHandler'
var roleId = guid(uniqueName, roleValue)

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: 'meetstream Web PubSub event handler (${uniqueName})'
  signInAudience: 'AzureADMyOrg'
  api: {
    // v2 tokens: aud is the app id, iss is https://login.microsoftonline.com/<tenant>/v2.0.
    requestedAccessTokenVersion: 2
  }
  appRoles: [
    {
      id: roleId
      value: roleValue
      displayName: roleValue
      description: 'Call the meetstream event handler as the Web PubSub hub.'
      allowedMemberTypes: ['Application']
      isEnabled: true
    }
  ]
}

resource servicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
  appRoleAssignmentRequired: true
}

resource callerAssignment 'Microsoft.Graph/appRoleAssignedTo@v1.0' = {
  appRoleId: roleId
  principalId: callerPrincipalId
  resourceId: servicePrincipal.id
}

output appId string = app.appId
