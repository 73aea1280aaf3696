/** The linked services of an ADF folder: their types, the parser of one file, and the loader of the folder. */
export { ARM_API_VERSIONS, BES_API_VERSION, isLoopbackHost } from './endpoints';
export type { AdfConfig } from './load';
export { checkLinkedServiceReferences, getLinkedService, loadAdfConfig, readLinkedServices } from './load';
export type { ParsedLinkedService } from './parse';
export { linkedServiceNameProblem, parseLinkedService, secretsOf } from './parse';
export type { AzureMLLinkedService, KeyVaultLinkedService, LinkedService, StorageLinkedService } from './types';
