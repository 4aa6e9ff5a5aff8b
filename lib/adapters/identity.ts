/**
 * Microsoft Entra credentials for the identity-based connections (lib/config.ts IdentitySettings),
 * and the transport options the composition root can hand to both SDKs.
 */
import type { Agent } from 'node:https';
import type { TokenCredential } from '@azure/core-auth';
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import type { IdentitySettings } from '../config';

/** What the composition root may inject (tests: a fake credential, an agent that trusts a test CA). */
export interface ConnectionOptions {
  /** Used instead of building one from the settings. */
  credential?: TokenCredential;
  /** HTTPS agent for the SDKs' requests (e.g. one trusting a test certificate authority). */
  agent?: Agent;
}

/**
 * `managedidentity` is what the Functions host uses for the same setting: only the managed
 * identity, so a stray developer login can never stand in for it. Without it the default chain
 * (environment, workload identity, managed identity, Azure CLI…) also works on a laptop.
 */
export function createCredential(settings: IdentitySettings): TokenCredential {
  if (settings.credential === 'managedidentity') {
    return settings.clientId !== undefined
      ? new ManagedIdentityCredential({ clientId: settings.clientId })
      : new ManagedIdentityCredential();
  }
  return new DefaultAzureCredential(
    settings.clientId !== undefined ? { managedIdentityClientId: settings.clientId } : {},
  );
}
