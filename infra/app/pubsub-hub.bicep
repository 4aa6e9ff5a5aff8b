// The hub and its event handler. The app's webPubSubEvents function answers the abuse-protection
// handshake and the system events; it accepts no user events, so none are routed. With local
// auth disabled the service signs nothing (no ce-signature): it sends an Entra token for
// `upstreamAudience` obtained with its managed identity, which the handler validates.
param webPubSubName string
param hubName string
param eventHandlerUrl string
param upstreamAudience string

resource webPubSub 'Microsoft.SignalRService/webPubSub@2024-03-01' existing = {
  name: webPubSubName
}

resource hub 'Microsoft.SignalRService/webPubSub/hubs@2024-03-01' = {
  parent: webPubSub
  name: hubName
  properties: {
    eventHandlers: [
      {
        urlTemplate: eventHandlerUrl
        systemEvents: ['connect', 'connected', 'disconnected']
        auth: {
          type: 'ManagedIdentity'
          managedIdentity: {
            resource: upstreamAudience
          }
        }
      }
    ]
    // Clients connect only with a token from negotiate.
    anonymousConnectPolicy: 'deny'
  }
}

output name string = hub.name
