import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AdfLinkedServiceJson, EmulatorHandle } from './types';

export const LINKED_SERVICE_TYPE = 'Microsoft.DataFactory/factories/linkedservices';

export interface LinkedServiceInputs {
  urls: EmulatorHandle['urls'];
  trainingKey: string;
  classicRetrainKey: string;
  armKey: string;
  tenant: string;
  clientId: string;
  clientSecret: string;
  storageConnectionString: string;
}

function secure(value: string): { type: 'SecureString'; value: string } {
  return { type: 'SecureString', value };
}

function linkedService(
  name: string,
  type: string,
  typeProperties: Record<string, unknown>,
  description: string,
): AdfLinkedServiceJson {
  return { name, type: LINKED_SERVICE_TYPE, properties: { type, description, typeProperties } };
}

/** The four linked services of the ADF sample (seed article), pointing at this emulator. */
export function buildLinkedServices(i: LinkedServiceInputs): Record<string, AdfLinkedServiceJson> {
  return {
    trainingEndpoint: linkedService(
      'trainingEndpoint',
      'AzureML',
      { mlEndpoint: `${i.urls.trainingBes}/jobs?api-version=2.0`, apiKey: secure(i.trainingKey) },
      'Training web service (BES): produces the .ilearner.',
    ),
    classicScoringEndpoint: linkedService(
      'classicScoringEndpoint',
      'AzureML',
      {
        mlEndpoint: `${i.urls.classicRetrainBes}/jobs?api-version=2.0`,
        apiKey: secure(i.classicRetrainKey),
        updateResourceEndpoint: i.urls.classicUpdateResource,
      },
      'Classic scoring web service, non-default updatable endpoint.',
    ),
    updatableScoringEndpoint2: linkedService(
      'updatableScoringEndpoint2',
      'AzureML',
      {
        mlEndpoint: `${i.urls.armBes}/jobs?api-version=2.0`,
        apiKey: secure(i.armKey),
        updateResourceEndpoint: i.urls.armUpdateResource,
        servicePrincipalId: i.clientId,
        servicePrincipalKey: secure(i.clientSecret),
        tenant: i.tenant,
      },
      'ARM (new) scoring web service, updated through Microsoft.MachineLearning/webServices.',
    ),
    StorageLinkedService: linkedService(
      'StorageLinkedService',
      'AzureStorage',
      { connectionString: i.storageConnectionString },
      'Azurite blob storage used by the emulator.',
    ),
  };
}

/**
 * The same linked services with every key in the emulated Key Vault: an `AzureKeyVault` linked service `keyVault`
 * and `AzureKeyVaultSecret` references (the storage account key as ADF's `accountKey` beside a key-less connection
 * string). `put` stores a secret in the vault and returns its name.
 */
export function buildKeyVaultLinkedServices(
  i: LinkedServiceInputs,
  vaultUrl: string,
  put: (name: string, value: string) => string,
): Record<string, AdfLinkedServiceJson> {
  const plain = buildLinkedServices(i);
  const ref = (name: string, value: string) => ({
    type: 'AzureKeyVaultSecret',
    store: { referenceName: 'keyVault', type: 'LinkedServiceReference' },
    secretName: put(name, value),
  });
  const tp = (n: string) => plain[n].properties.typeProperties;
  tp('trainingEndpoint').apiKey = ref('trainingEndpoint-apiKey', i.trainingKey);
  tp('classicScoringEndpoint').apiKey = ref('classicScoringEndpoint-apiKey', i.classicRetrainKey);
  tp('updatableScoringEndpoint2').apiKey = ref('updatableScoringEndpoint2-apiKey', i.armKey);
  tp('updatableScoringEndpoint2').servicePrincipalKey = ref('updatableScoringEndpoint2-spKey', i.clientSecret);
  const key = /AccountKey=([^;]+)/.exec(i.storageConnectionString)?.[1] ?? '';
  plain.StorageLinkedService = linkedService(
    'StorageLinkedService',
    'AzureBlobStorage',
    {
      connectionString: i.storageConnectionString.replace(/AccountKey=[^;]+;?/, '').replace(/;$/, ''),
      accountKey: ref('storage-accountKey', key),
    },
    'Azurite blob storage; the account key is in Key Vault.',
  );
  return {
    keyVault: linkedService('keyVault', 'AzureKeyVault', { baseUrl: vaultUrl }, 'The emulated Key Vault.'),
    ...plain,
  };
}

function envLine(key: string, value: string): string {
  return /^[\w@%+=:,./-]*$/.test(value) ? `${key}=${value}` : `${key}="${value.replace(/(["\\$`])/g, '\\$1')}"`;
}

/**
 * Write `DIR/linkedService/<name>.json` (ADF git layout) and `DIR/emulator.env`. Returns the written paths.
 * The env file holds no secrets: only where the authority and the CA are.
 */
export async function writeConfigDir(
  dir: string,
  linkedServices: Record<string, AdfLinkedServiceJson>,
  env: Record<string, string>,
): Promise<string[]> {
  const lsDir = join(dir, 'linkedService');
  await mkdir(lsDir, { recursive: true });
  const written: string[] = [];
  for (const [name, ls] of Object.entries(linkedServices)) {
    const file = join(lsDir, `${name}.json`);
    // Linked services carry keys: readable by the owner only.
    await writeFile(file, `${JSON.stringify(ls, null, 2)}\n`, { mode: 0o600 });
    written.push(file);
  }
  const envFile = join(dir, 'emulator.env');
  const lines = Object.entries(env).map(([k, v]) => envLine(k, v));
  await writeFile(
    envFile,
    `# Written by the ML Studio (classic) emulator. Source it or load it with --env-file.\n${lines.join('\n')}\n`,
  );
  written.push(envFile);
  return written;
}
