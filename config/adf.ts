import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Secret } from './secret';

/**
 * Reads linked services from a folder in ADF's git layout (`linkedService/*.json`). ADF-defined property names are
 * matched case-insensitively, as ADF's own deserializer does (Microsoft's samples write `LinkedServiceName`).
 */

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly problems: string[] = [message],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

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
  connectionString?: Secret;
  sasUri?: Secret;
}

export type LinkedService = AzureMLLinkedService | StorageLinkedService;

export interface AdfConfig {
  dir: string;
  linkedServices: Map<string, LinkedService>;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Text of a JSON value for messages and comparisons. */
export function str(v: unknown): string {
  return typeof v === 'string' ? v : (JSON.stringify(v) ?? 'undefined');
}

/** Case-insensitive property lookup for ADF-defined names. */
export function prop<T>(obj: Record<string, T> | undefined, name: string): T | undefined {
  if (!obj) return undefined;
  if (name in obj) return obj[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

const MASKED = /^\*+$/;
const PLACEHOLDER = /^(<[^>]*>|\[[^\]]*\]|\{[^}]*\})$/;

class Reader {
  readonly problems: string[] = [];
  constructor(readonly file: string) {}

  fail(path: string, message: string): undefined {
    this.problems.push(`${this.file}: ${path}: ${message}`);
    return undefined;
  }

  string(obj: JsonObject, name: string, path: string, required: boolean): string | undefined {
    const v = prop(obj, name);
    if (v === undefined || v === null || v === '')
      return required ? this.fail(`${path}.${name}`, 'is required') : undefined;
    if (isObject(v) && str(prop(v, 'type')).toLowerCase() === 'expression') {
      return this.fail(`${path}.${name}`, 'expressions are not supported in linked services yet; give a literal value');
    }
    if (typeof v !== 'string') return this.fail(`${path}.${name}`, `must be a string, got ${typeof v}`);
    if (PLACEHOLDER.test(v.trim()))
      return this.fail(`${path}.${name}`, `holds a placeholder (${v}); give the real value`);
    return v;
  }

  /** Secret forms: plain string, SecureString, and an environment-variable indirection for local use. */
  secret(obj: JsonObject, name: string, path: string, required: boolean): Secret | undefined {
    const v = prop(obj, name);
    const p = `${path}.${name}`;
    if (v === undefined || v === null || v === '') return required ? this.fail(p, 'is required') : undefined;
    let value: string | undefined;
    if (typeof v === 'string') {
      value = v;
    } else if (isObject(v)) {
      const type = str(prop(v, 'type') ?? '');
      if (type === 'SecureString') {
        const inner = prop(v, 'value');
        if (typeof inner !== 'string' || inner === '') return this.fail(`${p}.value`, 'SecureString needs a value');
        value = inner;
      } else if (type === 'EnvironmentVariable') {
        const variable = prop(v, 'variable');
        if (typeof variable !== 'string' || !variable)
          return this.fail(`${p}.variable`, 'names no environment variable');
        const fromEnv = process.env[variable];
        if (!fromEnv) return this.fail(p, `environment variable ${variable} is not set`);
        value = fromEnv;
      } else if (type === 'AzureKeyVaultSecret') {
        return this.fail(p, 'AzureKeyVaultSecret is not supported yet; use SecureString or EnvironmentVariable');
      } else {
        return this.fail(p, `unknown secret type '${type}' (expected SecureString or EnvironmentVariable)`);
      }
    } else {
      return this.fail(p, `must be a string or a SecureString object, got ${typeof v}`);
    }
    if (MASKED.test(value)) {
      return this.fail(p, 'is masked (**********), as ADF exports it; supply the real value or an EnvironmentVariable');
    }
    if (PLACEHOLDER.test(value.trim())) return this.fail(p, 'holds a placeholder; supply the real value');
    return new Secret(value);
  }
}

export function parseLinkedService(file: string, raw: unknown): { service?: LinkedService; problems: string[] } {
  const r = new Reader(file);
  if (!isObject(raw)) return { problems: [`${file}: $: must be a JSON object`] };
  const name = r.string(raw, 'name', '$', true);
  const props = prop(raw, 'properties');
  if (!isObject(props)) {
    r.fail('$.properties', 'is required (ADF v2 linked service: { name, properties: { type, typeProperties } })');
    return { problems: r.problems };
  }
  const type = r.string(props, 'type', '$.properties', true);
  const tp = prop(props, 'typeProperties');
  if (!isObject(tp)) {
    r.fail('$.properties.typeProperties', 'is required');
    return { problems: r.problems };
  }
  const base = '$.properties.typeProperties';
  if (prop(tp, 'encryptedCredential') !== undefined) {
    r.fail(`${base}.encryptedCredential`, 'is encrypted by an ADF integration runtime and cannot be read outside ADF');
  }
  let service: LinkedService | undefined;
  if (type === 'AzureML') {
    const mlEndpoint = r.string(tp, 'mlEndpoint', base, true);
    const apiKey = r.secret(tp, 'apiKey', base, true);
    const updateResourceEndpoint = r.string(tp, 'updateResourceEndpoint', base, false);
    const servicePrincipalId = r.string(tp, 'servicePrincipalId', base, false);
    const servicePrincipalKey = r.secret(tp, 'servicePrincipalKey', base, false);
    const tenant = r.string(tp, 'tenant', base, false);
    if (mlEndpoint && !/^https?:\/\//i.test(mlEndpoint)) r.fail(`${base}.mlEndpoint`, 'must be an http(s) URL');
    if (
      updateResourceEndpoint &&
      /\/providers\/Microsoft\.MachineLearning\/webServices\//i.test(updateResourceEndpoint)
    ) {
      // ARM web services need a service principal; classic endpoints use apiKey.
      if (!servicePrincipalId) r.fail(`${base}.servicePrincipalId`, 'is required for an ARM updateResourceEndpoint');
      if (!servicePrincipalKey && prop(tp, 'servicePrincipalKey') === undefined) {
        r.fail(`${base}.servicePrincipalKey`, 'is required for an ARM updateResourceEndpoint');
      }
      if (!tenant) r.fail(`${base}.tenant`, 'is required for an ARM updateResourceEndpoint');
    }
    if (name && mlEndpoint && apiKey) {
      service = {
        kind: 'AzureML',
        name,
        file,
        mlEndpoint,
        apiKey,
        updateResourceEndpoint,
        servicePrincipalId,
        servicePrincipalKey,
        tenant,
      };
    }
  } else if (type === 'AzureStorage' || type === 'AzureBlobStorage') {
    const connectionString = r.secret(tp, 'connectionString', base, false);
    const sasUri = r.secret(tp, 'sasUri', base, false);
    if (prop(tp, 'serviceEndpoint') !== undefined && !connectionString && !sasUri) {
      r.fail(
        `${base}.serviceEndpoint`,
        'service-principal / managed-identity storage cannot be turned into a BES blob location; use connectionString or sasUri',
      );
    } else if (
      !connectionString &&
      !sasUri &&
      prop(tp, 'connectionString') === undefined &&
      prop(tp, 'sasUri') === undefined
    ) {
      r.fail(base, 'needs connectionString or sasUri');
    }
    if (name && (connectionString || sasUri)) {
      service = { kind: 'Storage', type, name, file, connectionString, sasUri };
    }
  } else if (type) {
    return { problems: r.problems };
  }
  return { service: r.problems.length ? undefined : service, problems: r.problems };
}

async function listJson(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((f) => f.toLowerCase().endsWith('.json')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

export async function readJsonFile(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text.replace(/^\uFEFF/, '')) as unknown;
  } catch (e) {
    throw new ConfigError(`${path}: not valid JSON: ${(e as Error).message}`);
  }
}

/** Load every linked service of an ADF folder. Throws one ConfigError listing every problem found. */
export async function loadAdfConfig(dir: string): Promise<AdfConfig> {
  const lsDir = join(dir, 'linkedService');
  const files = await listJson(lsDir);
  if (files.length === 0) {
    throw new ConfigError(`${lsDir}: no linked services found (expected ADF git layout: linkedService/<name>.json)`);
  }
  const problems: string[] = [];
  const linkedServices = new Map<string, LinkedService>();
  for (const f of files) {
    const path = join(lsDir, f);
    let raw: unknown;
    try {
      raw = await readJsonFile(path);
    } catch (e) {
      problems.push((e as Error).message);
      continue;
    }
    const { service, problems: p } = parseLinkedService(path, raw);
    problems.push(...p);
    if (service) {
      const key = service.name.toLowerCase();
      if (linkedServices.has(key)) problems.push(`${path}: $.name: linked service '${service.name}' is defined twice`);
      // ADF names are case-insensitive within a factory.
      linkedServices.set(key, service);
    }
  }
  if (problems.length) throw new ConfigError(`invalid ADF config in ${dir}:\n  ${problems.join('\n  ')}`, problems);
  return { dir, linkedServices };
}

export function getLinkedService(config: AdfConfig, name: string): LinkedService | undefined {
  return config.linkedServices.get(name.toLowerCase());
}
