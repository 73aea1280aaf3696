import { ApplicationFailure } from '@temporalio/common';
import type { TokenCredential } from '@azure/core-auth';
import { createDefaultHttpClient } from '@azure/core-rest-pipeline';
import { ClientSecretCredential, ManagedIdentityCredential } from '@azure/identity';
import type { ActivityDeps } from '../activities/deps';
import { createStorageAccess, effectiveConnectionString, effectiveSasUri } from '../activities/storage';
import type { StorageAccess } from '../activities/storage';
import type { AdfConfig, AzureMLLinkedService, StorageLinkedService } from '../config/linked-services';
import { getLinkedService } from '../config/linked-services';
import type { WorkerSettings } from '../config/env';
import { FailureType } from '../common/failures';
import { loadPipelineDefinition } from '../config/factory';
import { KeyVaultResolver } from './keyvault';

function missing(config: AdfConfig, name: string, expected: string): ApplicationFailure {
  const found = getLinkedService(config, name);
  return ApplicationFailure.create({
    type: FailureType.ConfigError,
    nonRetryable: true,
    message: found
      ? `linked service '${name}' (${found.file}) is not ${expected}`
      : `linked service '${name}' is not defined in ${config.dir}/linkedService (known: ${[
          ...config.linkedServices.values(),
        ]
          .map((l) => l.name)
          .join(', ')})`,
  });
}

/**
 * Real dependencies of the activities: secrets resolved from the ADF folder by linked-service name, one HTTP client,
 * and one credential per service principal (so tokens are cached between activities).
 */
export function buildActivityDeps(config: AdfConfig, settings: WorkerSettings): ActivityDeps {
  const httpClient = createDefaultHttpClient();
  const credentials = new Map<string, TokenCredential>();
  const storage = new Map<string, StorageAccess>();
  let vaultCredential: TokenCredential | undefined;
  const kv = settings.keyVault;
  const keyVault = new KeyVaultResolver(
    config,
    () =>
      (vaultCredential ??=
        kv.tenantId && kv.clientId && kv.clientSecret
          ? new ClientSecretCredential(kv.tenantId, kv.clientId, kv.clientSecret, {
              authorityHost: settings.authorityHost,
              disableInstanceDiscovery: true,
            })
          : kv.clientId
            ? new ManagedIdentityCredential({ clientId: kv.clientId })
            : new ManagedIdentityCredential()),
    kv.cacheSeconds * 1000,
  );
  return {
    httpClient,
    settings: settings.activity,
    pipelines: { load: (name) => loadPipelineDefinition(config.dir, name, config.linkedServices) },
    ...(keyVault.size > 0 && { beforeActivity: () => keyVault.refresh() }),
    azureML(name) {
      const ls = getLinkedService(config, name);
      if (ls?.kind !== 'AzureML') throw missing(config, name, 'an AzureML linked service');
      return ls;
    },
    storage(name) {
      const ls = getLinkedService(config, name);
      if (ls?.kind !== 'Storage') throw missing(config, name, 'an AzureStorage/AzureBlobStorage linked service');
      return ls;
    },
    storageAccess(ls: StorageLinkedService) {
      // Keyed by the secret too: a rotated Key Vault secret gets a new client.
      const cacheKey = `${ls.name}\0${effectiveConnectionString(ls) ?? effectiveSasUri(ls) ?? ''}`;
      let access = storage.get(cacheKey);
      if (!access) {
        access = createStorageAccess(ls);
        storage.set(cacheKey, access);
      }
      return access;
    },
    credentialFor(ls: AzureMLLinkedService) {
      const cacheKey = `${ls.name}\0${ls.servicePrincipalKey?.reveal() ?? ''}`;
      let cred = credentials.get(cacheKey);
      if (!cred) {
        if (!ls.tenant || !ls.servicePrincipalId || !ls.servicePrincipalKey) {
          throw ApplicationFailure.create({
            type: FailureType.ConfigError,
            nonRetryable: true,
            message: `AzureML linked service '${ls.name}' needs servicePrincipalId, servicePrincipalKey and tenant for an ARM update`,
          });
        }
        // A deterministic credential: the service principal named by the linked service, never a fallback chain.
        cred = new ClientSecretCredential(ls.tenant, ls.servicePrincipalId, ls.servicePrincipalKey.reveal(), {
          authorityHost: settings.authorityHost,
          // MSAL's instance discovery always asks login.microsoftonline.com, whatever the authority host: it would
          // fail against a sovereign cloud's or the emulator's Entra. Token requests go to authorityHost only.
          disableInstanceDiscovery: true,
        });
        credentials.set(cacheKey, cred);
      }
      return cred;
    },
  };
}
