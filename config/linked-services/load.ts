import { join } from 'node:path';
import { Diagnostics, formatDiagnostic } from '../diagnostics';
import { ConfigError } from '../errors';
import { listJson, readJsonFile, reportReadError } from '../json';
import { parseLinkedService, secretsOf } from './parse';
import type { LinkedService } from './types';

/**
 * Reads linked services from a folder in ADF's git layout (`linkedService/*.json`). ADF names are case-insensitive
 * within a factory, so services are kept by lower-case name.
 */

export interface AdfConfig {
  dir: string;
  linkedServices: Map<string, LinkedService>;
  /** Notes that do not stop the worker (unknown linked-service types, self-hosted IRs, ...). */
  warnings?: string[];
}

/** Cross-reference checks once every linked service is known: Key Vault stores exist and are AzureKeyVault. */
export function checkLinkedServiceReferences(services: Map<string, LinkedService>, d: Diagnostics): void {
  for (const ls of services.values()) {
    for (const { field, secret } of secretsOf(ls)) {
      const ref = secret.keyVault;
      if (!ref) continue;
      const store = services.get(ref.store.toLowerCase());
      const path = `$.properties.typeProperties.${field}.store.referenceName`;
      if (!store) {
        d.error(ls.file, path, `Key Vault linked service '${ref.store}' is not defined in linkedService/`);
      } else if (store.kind !== 'AzureKeyVault') {
        d.error(ls.file, path, `'${ref.store}' (${store.file}) is not an AzureKeyVault linked service`);
      }
    }
  }
}

/**
 * Parse every linked service of a folder into `d`. Also returns them by lower-case name (ADF names are
 * case-insensitive within a factory).
 */
export async function readLinkedServices(dir: string, d: Diagnostics): Promise<Map<string, LinkedService>> {
  const lsDir = join(dir, 'linkedService');
  const linkedServices = new Map<string, LinkedService>();
  for (const f of await listJson(lsDir)) {
    const path = join(lsDir, f);
    let raw: unknown;
    try {
      raw = await readJsonFile(path);
    } catch (e) {
      reportReadError(d, path, e);
      continue;
    }
    const { service } = parseLinkedService(path, raw, d);
    if (service) {
      const key = service.name.toLowerCase();
      const prior = linkedServices.get(key);
      if (prior) {
        d.error(
          path,
          '$.name',
          `linked service '${service.name}' is also defined in ${prior.file} (names are case-insensitive)`,
        );
      }
      linkedServices.set(key, service);
    }
  }
  checkLinkedServiceReferences(linkedServices, d);
  return linkedServices;
}

/** Load every linked service of an ADF folder. Throws one ConfigError listing every problem found. */
export async function loadAdfConfig(dir: string): Promise<AdfConfig> {
  const lsDir = join(dir, 'linkedService');
  const files = await listJson(lsDir);
  if (files.length === 0) {
    throw new ConfigError(`${lsDir}: no linked services found (expected ADF git layout: linkedService/<name>.json)`);
  }
  const d = new Diagnostics();
  const linkedServices = await readLinkedServices(dir, d);
  const problems = d.errors.map((x) =>
    x.path === '$' && x.message.startsWith('not valid JSON') ? `${x.file}: ${x.message}` : formatDiagnostic(x),
  );
  if (problems.length) throw new ConfigError(`invalid ADF config in ${dir}:\n  ${problems.join('\n  ')}`, problems);
  return { dir, linkedServices, warnings: d.warnings.map(formatDiagnostic) };
}

export function getLinkedService(config: AdfConfig, name: string): LinkedService | undefined {
  return config.linkedServices.get(name.toLowerCase());
}
