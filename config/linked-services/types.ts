import type { Secret } from '../secret';

/** The linked services this product uses, as read from `linkedService/*.json`: endpoints plus their secrets. */

export interface AzureMLLinkedService {
  kind: 'AzureML';
  name: string;
  file: string;
  mlEndpoint: string;
  apiKey: Secret;
  updateResourceEndpoint?: string;
  servicePrincipalId?: string;
  servicePrincipalKey?: Secret;
  tenant?: string;
}

export interface StorageLinkedService {
  kind: 'Storage';
  type: 'AzureStorage' | 'AzureBlobStorage';
  name: string;
  file: string;
  /** A connection string; with `accountKey`, the key is added when it has none (ADF's Key Vault key form). */
  connectionString?: Secret;
  accountKey?: Secret;
  /** A SAS URI; with `sasToken`, the token is appended when the URI has none. */
  sasUri?: Secret;
  sasToken?: Secret;
}

/** The store that `AzureKeyVaultSecret` references name. */
export interface KeyVaultLinkedService {
  kind: 'AzureKeyVault';
  name: string;
  file: string;
  /** `https://<vault>.vault.azure.net` */
  baseUrl: string;
}

export type LinkedService = AzureMLLinkedService | StorageLinkedService | KeyVaultLinkedService;
