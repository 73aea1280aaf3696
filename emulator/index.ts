export { startEmulator, INITIAL_MODEL_ID } from './emulator';
export { generateCa, readCaDir, writeCaDir, CA_DIR_ENV } from './tls';
export type { PemPair } from './tls';
export { MODEL_HEADER } from './bes';
export { parseFaultRules } from './faults';
export type * from './types';
