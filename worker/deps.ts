import { ApplicationFailure } from '@temporalio/common';
import type { TokenCredential } from '@azure/core-auth';
import { createDefaultHttpClient } from '@azure/core-rest-pipeline';
import { ClientSecretCredential } from '@azure/identity';
import type { ActivityDeps } from '../activities/deps';
import { createStorageAccess } from '../activities/storage';
import type { StorageAccess } from '../activities/storage';
import type { AdfConfig, AzureMLLinkedService, StorageLinkedService } from '../config/adf';
import { getLinkedService } from '../config/adf';
import type { WorkerSettings } from '../config/env';
import { FailureType } from '../common/failures';

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
  return {
    httpClient,
    settings: settings.activity,
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
      let access = storage.get(ls.name);
      if (!access) {
        access = createStorageAccess(ls);
        storage.set(ls.name, access);
      }
      return access;
    },
    credentialFor(ls: AzureMLLinkedService) {
      let cred = credentials.get(ls.name);
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
        credentials.set(ls.name, cred);
      }
      return cred;
    },
  };
}
