import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hiddenCharacterProblem } from '../common/paths';
import { isMasked } from '../common/pipeline-definition';
import { Diagnostics, formatDiagnostic } from './diagnostics';
import type { KeyVaultRef } from './secret';
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

export interface AdfConfig {
  dir: string;
  linkedServices: Map<string, LinkedService>;
  /** Notes that do not stop the worker (unknown linked-service types, self-hosted IRs, ...). */
  warnings?: string[];
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

export function isObject(v: unknown): v is JsonObject {
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

/** The key as spelled in the file (for JSON paths in messages), or the canonical name when absent. */
export function keyOf(obj: Record<string, unknown> | undefined, name: string): string {
  if (!obj) return name;
  if (name in obj) return name;
  return Object.keys(obj).find((k) => k.toLowerCase() === name.toLowerCase()) ?? name;
}

/** ARM template expressions (`[parameters('x')]`, `[concat(...)]`): deployment-time, not ADF v2 (docs/spec/adf-pipeline-semantics.md §2.3). */
export const ARM_EXPRESSION = /^\[\s*[A-Za-z][A-Za-z0-9]*\s*\(.*\)\s*\]$/s;
const PLACEHOLDER = /^(<[^>]*>|\[[^\]]*\]|\{\{[^}]*\}\}|\{[^}"]*\})$/;

export function armExpressionMessage(value: string): string {
  return (
    `holds the ARM template expression '${value.length > 60 ? `${value.slice(0, 57)}...` : value}': this file comes ` +
    `from an ARM template (deployment-time), not an ADF git folder; give the real value, or export the factory's ` +
    `git-integration JSON instead of the ARM template`
  );
}

/** ADF naming rules for linked services (docs/spec/adf-pipeline-semantics.md §3.1): letters, digits, `_`, no `-` and none of `. + ? / < > * % & : \`. */
export function linkedServiceNameProblem(name: string): string | undefined {
  const hidden = hiddenCharacterProblem(name);
  if (hidden) return hidden;
  if (name.length > 260) return 'is longer than 260 characters';
  if (!/^[A-Za-z0-9_]/.test(name)) return 'must start with a letter, a digit or an underscore';
  if (/[-.+?/<>*%&:\\]/.test(name)) return "must not contain '-' or any of . + ? / < > * % & : \\ (ADF naming rules)";
  return undefined;
}

class Reader {
  constructor(
    readonly file: string,
    readonly d: Diagnostics,
  ) {}

  get problems(): string[] {
    return this.d.errors.map(formatDiagnostic);
  }

  fail(path: string, message: string): undefined {
    return this.d.error(this.file, path, message);
  }

  string(obj: JsonObject, name: string, path: string, required: boolean): string | undefined {
    const v = prop(obj, name);
    const p = `${path}.${keyOf(obj, name)}`;
    if (v === undefined || v === null || v === '') return required ? this.fail(p, 'is required') : undefined;
    if (isObject(v) && str(prop(v, 'type')).toLowerCase() === 'expression') {
      return this.fail(p, 'expressions (linked-service parameters) are not supported; give a literal value');
    }
    if (typeof v !== 'string') return this.fail(p, `must be a string, got ${typeof v}`);
    if (v.startsWith('@') && !v.startsWith('@@')) {
      return this.fail(p, 'expressions (linked-service parameters) are not supported; give a literal value');
    }
    if (ARM_EXPRESSION.test(v.trim())) return this.fail(p, armExpressionMessage(v.trim()));
    if (PLACEHOLDER.test(v.trim())) return this.fail(p, `holds a placeholder (${v}); give the real value`);
    return v;
  }

  /**
   * Secret forms: plain string, SecureString, AzureKeyVaultSecret (resolved later by the worker), and an
   * environment-variable indirection for local use. Masked values and placeholders count as missing.
   */
  secret(obj: JsonObject, name: string, path: string, required: boolean): Secret | undefined {
    const v = prop(obj, name);
    const p = `${path}.${keyOf(obj, name)}`;
    if (v === undefined || v === null || v === '') return required ? this.fail(p, 'is required') : undefined;
    let value: string | undefined;
    let where = p;
    if (typeof v === 'string') {
      value = v;
    } else if (isObject(v)) {
      const type = str(prop(v, 'type') ?? '');
      if (type.toLowerCase() === 'securestring') {
        const inner = prop(v, 'value');
        where = `${p}.${keyOf(v, 'value')}`;
        if (typeof inner !== 'string' || inner === '') return this.fail(where, 'SecureString needs a value');
        value = inner;
      } else if (type.toLowerCase() === 'environmentvariable') {
        const variable = prop(v, 'variable');
        if (typeof variable !== 'string' || !variable) {
          return this.fail(`${p}.${keyOf(v, 'variable')}`, 'names no environment variable');
        }
        const fromEnv = process.env[variable];
        if (!fromEnv) return this.fail(p, `environment variable ${variable} is not set`);
        value = fromEnv;
        where = `${p} (environment variable ${variable})`;
      } else if (type.toLowerCase() === 'azurekeyvaultsecret') {
        return this.keyVaultSecret(v, p);
      } else if (type.toLowerCase() === 'expression') {
        return this.fail(
          p,
          'expressions are not supported for secrets; use SecureString, AzureKeyVaultSecret or EnvironmentVariable',
        );
      } else {
        return this.fail(
          p,
          `unknown secret type '${type}' (expected SecureString, AzureKeyVaultSecret or EnvironmentVariable)`,
        );
      }
    } else {
      return this.fail(p, `must be a string or a SecureString object, got ${typeof v}`);
    }
    if (isMasked(value)) {
      return this.fail(
        where,
        'is masked (**********), as ADF exports it: it is not the key. Supply the real value (SecureString, ' +
          'AzureKeyVaultSecret or EnvironmentVariable)',
      );
    }
    if (ARM_EXPRESSION.test(value.trim())) return this.fail(where, armExpressionMessage(value.trim()));
    if (PLACEHOLDER.test(value.trim())) return this.fail(where, 'holds a placeholder; supply the real value');
    return new Secret(value);
  }

  private keyVaultSecret(v: JsonObject, p: string): Secret | undefined {
    const store = prop(v, 'store');
    const storeName = isObject(store) ? prop(store, 'referenceName') : undefined;
    const secretName = prop(v, 'secretName');
    const secretVersion = prop(v, 'secretVersion');
    let ok = true;
    if (typeof storeName !== 'string' || !storeName) {
      ok = !!this.fail(
        `${p}.${keyOf(v, 'store')}`,
        'AzureKeyVaultSecret needs store: { referenceName: <AzureKeyVault linked service>, type: LinkedServiceReference }',
      );
    }
    if (typeof secretName !== 'string' || !secretName) {
      ok = !!this.fail(`${p}.${keyOf(v, 'secretName')}`, 'AzureKeyVaultSecret needs a literal secretName');
    } else if (secretName.startsWith('@')) {
      ok = !!this.fail(`${p}.${keyOf(v, 'secretName')}`, 'expressions are not supported in secretName; give the name');
    } else if (!/^[0-9A-Za-z-]{1,127}$/.test(secretName)) {
      ok = !!this.fail(
        `${p}.${keyOf(v, 'secretName')}`,
        `'${secretName}' is not a Key Vault secret name (letters, digits, '-')`,
      );
    }
    if (secretVersion !== undefined && secretVersion !== null && typeof secretVersion !== 'string') {
      ok = !!this.fail(`${p}.${keyOf(v, 'secretVersion')}`, 'must be a string');
    }
    if (!ok) return undefined;
    const ref: KeyVaultRef = { store: storeName as string, secretName: secretName as string };
    if (typeof secretVersion === 'string' && secretVersion) ref.secretVersion = secretVersion;
    return new Secret(ref);
  }
}

const ARM_WEB_SERVICE = /\/providers\/Microsoft\.MachineLearning\/webServices\//i;
/** The BES contract version (ML Studio classic only ever served 2.0). */
export const BES_API_VERSION = '2.0';
/** The Microsoft.MachineLearning webServices api-versions ADF and the ARM RP accept. */
export const ARM_API_VERSIONS = ['2016-05-01-preview', '2017-01-01'];

/** 127.0.0.0/8, localhost and ::1: where plain http reaches only this machine (Azurite, local emulators). */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * Plain-http endpoints: an error, since keys and tokens would cross the network in clear text, except on loopback,
 * where Azurite and local emulators live; that gets a warning.
 */
function checkScheme(r: Reader, url: string, path: string, what: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    r.fail(path, `'${url}' is not a valid URL`);
    return;
  }
  if (u.protocol === 'https:') return;
  if (u.protocol !== 'http:') {
    r.fail(path, `'${u.protocol}' ${what} is not supported; use https://`);
  } else if (isLoopbackHost(u.hostname)) {
    r.d.warn(
      r.file,
      path,
      `plain http to ${u.host} (loopback): acceptable for a local emulator only; use https:// for Azure`,
    );
  } else {
    r.fail(
      path,
      `http:// ${what} would send keys in clear text; use https://${u.host}${u.pathname === '/' ? '' : '/…'}`,
    );
  }
}

/** `?api-version=` of an endpoint, when it has one. */
function apiVersionOf(url: string): string | undefined {
  try {
    return new URL(url).searchParams.get('api-version') ?? undefined;
  } catch {
    return undefined;
  }
}

export interface ParsedLinkedService {
  service?: LinkedService;
  /** Errors as `file: path: message` lines. */
  problems: string[];
  diagnostics: Diagnostics;
}

export function parseLinkedService(file: string, raw: unknown, diagnostics = new Diagnostics()): ParsedLinkedService {
  const r = new Reader(file, diagnostics);
  const before = diagnostics.errors.length;
  const done = (service?: LinkedService): ParsedLinkedService => {
    const mine = diagnostics.errors.slice(before).map(formatDiagnostic);
    return { service: mine.length ? undefined : service, problems: mine, diagnostics };
  };
  if (!isObject(raw)) {
    r.fail('$', 'must be a JSON object');
    return done();
  }
  const name = r.string(raw, 'name', '$', true);
  if (name) {
    const bad = linkedServiceNameProblem(name);
    if (bad) r.fail(`$.${keyOf(raw, 'name')}`, `linked service name '${name}' ${bad}`);
  }
  const props = prop(raw, 'properties');
  if (!isObject(props)) {
    r.fail('$.properties', 'is required (ADF v2 linked service: { name, properties: { type, typeProperties } })');
    return done();
  }
  const pp = `$.${keyOf(raw, 'properties')}`;
  const type = r.string(props, 'type', pp, true);
  const tp = prop(props, 'typeProperties');
  const base = `${pp}.${keyOf(props, 'typeProperties')}`;
  if (!isObject(tp)) {
    r.fail(base, 'is required');
    return done();
  }
  const via = prop(props, 'connectVia');
  const ir = isObject(via) ? prop(via, 'referenceName') : undefined;
  if (typeof ir === 'string' && ir !== 'AutoResolveIntegrationRuntime') {
    diagnostics.warn(
      file,
      `${pp}.${keyOf(props, 'connectVia')}`,
      `integration runtime '${ir}' is ignored: the worker calls the services itself`,
    );
  }
  if (prop(tp, 'encryptedCredential') !== undefined) {
    r.fail(
      `${base}.${keyOf(tp, 'encryptedCredential')}`,
      'is encrypted by an ADF integration runtime and cannot be read outside ADF; give the secrets instead',
    );
  }
  let service: LinkedService | undefined;
  if (type === 'AzureML') {
    const mlEndpoint = r.string(tp, 'mlEndpoint', base, true);
    const apiKey = r.secret(tp, 'apiKey', base, true);
    const updateResourceEndpoint = r.string(tp, 'updateResourceEndpoint', base, false);
    const servicePrincipalId = r.string(tp, 'servicePrincipalId', base, false);
    const servicePrincipalKey = r.secret(tp, 'servicePrincipalKey', base, false);
    const tenant = r.string(tp, 'tenant', base, false);
    const mlPath = `${base}.${keyOf(tp, 'mlEndpoint')}`;
    if (mlEndpoint && !/^https?:\/\/[^/]+/i.test(mlEndpoint)) {
      r.fail(mlPath, 'must be an http(s) URL');
    } else if (mlEndpoint) {
      checkScheme(r, mlEndpoint, mlPath, 'mlEndpoint');
      const v = apiVersionOf(mlEndpoint);
      if (v !== undefined && v !== BES_API_VERSION) {
        r.fail(mlPath, `api-version '${v}' is not the BES version; ML Studio (classic) BES serves api-version=2.0`);
      }
    }
    const urPath = `${base}.${keyOf(tp, 'updateResourceEndpoint')}`;
    if (updateResourceEndpoint && !/^https?:\/\/[^/]+/i.test(updateResourceEndpoint)) {
      r.fail(urPath, 'must be an http(s) URL');
    } else if (updateResourceEndpoint) {
      checkScheme(r, updateResourceEndpoint, urPath, 'updateResourceEndpoint');
      const v = apiVersionOf(updateResourceEndpoint);
      if (ARM_WEB_SERVICE.test(updateResourceEndpoint) && v !== undefined && !ARM_API_VERSIONS.includes(v)) {
        r.fail(
          urPath,
          `api-version '${v}' is not a Microsoft.MachineLearning webServices version (${ARM_API_VERSIONS.join(', ')})`,
        );
      }
    }
    if (updateResourceEndpoint && ARM_WEB_SERVICE.test(updateResourceEndpoint)) {
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
    service = parseStorage(r, tp, base, type, name, file);
  } else if (type === 'AzureKeyVault') {
    const baseUrl = r.string(tp, 'baseUrl', base, true);
    if (baseUrl && /^http:\/\//i.test(baseUrl)) {
      checkScheme(r, baseUrl, `${base}.${keyOf(tp, 'baseUrl')}`, 'baseUrl');
    } else if (baseUrl && !/^https:\/\/[^/]+/i.test(baseUrl)) {
      r.fail(`${base}.${keyOf(tp, 'baseUrl')}`, 'must be an https URL such as https://<vault>.vault.azure.net');
    }
    if (name && baseUrl) service = { kind: 'AzureKeyVault', name, file, baseUrl };
  } else if (type) {
    diagnostics.warn(
      file,
      `${pp}.${keyOf(props, 'type')}`,
      `linked-service type '${type}' is not used by this product (AzureML, AzureStorage, AzureBlobStorage, AzureKeyVault); ignored`,
    );
  }
  return done(service);
}

function parseStorage(
  r: Reader,
  tp: JsonObject,
  base: string,
  type: 'AzureStorage' | 'AzureBlobStorage',
  name: string | undefined,
  file: string,
): StorageLinkedService | undefined {
  const connectionString = r.secret(tp, 'connectionString', base, false);
  const accountKey = r.secret(tp, 'accountKey', base, false);
  const sasUri = r.secret(tp, 'sasUri', base, false);
  const sasToken = r.secret(tp, 'sasToken', base, false);
  const has = (k: string) => prop(tp, k) !== undefined && prop(tp, k) !== null && prop(tp, k) !== '';
  const serviceEndpoint = prop(tp, 'serviceEndpoint');
  if (has('connectionString') && has('sasUri')) {
    r.fail(`${base}.${keyOf(tp, 'sasUri')}`, 'connectionString and sasUri are mutually exclusive; give one');
  }
  if (has('serviceEndpoint')) {
    if (typeof serviceEndpoint !== 'string' || !/^https?:\/\//i.test(serviceEndpoint)) {
      r.fail(`${base}.${keyOf(tp, 'serviceEndpoint')}`, 'must be the blob endpoint URL');
    } else if (has('connectionString') || has('sasUri')) {
      r.fail(
        `${base}.${keyOf(tp, 'serviceEndpoint')}`,
        'serviceEndpoint is mutually exclusive with connectionString and sasUri',
      );
    } else if (accountKey) {
      // The accountKey form with an endpoint instead of a connection string: turn it into one.
      const u = new URL(serviceEndpoint);
      const account = u.hostname.split('.')[0];
      const cs = `DefaultEndpointsProtocol=${u.protocol.replace(':', '')};AccountName=${account};BlobEndpoint=${serviceEndpoint}`;
      return name ? { kind: 'Storage', type, name, file, connectionString: new Secret(cs), accountKey } : undefined;
    } else {
      const auth = str(prop(tp, 'authenticationType') ?? (has('servicePrincipalId') ? 'ServicePrincipal' : 'Msi'));
      r.fail(
        `${base}.${keyOf(tp, 'serviceEndpoint')}`,
        `serviceEndpoint with ${auth} authentication cannot be used: ML Studio (classic) BES needs an account-key ` +
          'connection string or a SAS for every input and output, and the update needs a SAS for the .ilearner. ' +
          'Use connectionString (+ accountKey) or sasUri (+ sasToken)',
      );
    }
    return undefined;
  }
  if (!has('connectionString') && !has('sasUri')) {
    r.fail(base, 'needs connectionString or sasUri (or serviceEndpoint with accountKey)');
    return undefined;
  }
  if (has('accountKey') && !has('connectionString')) {
    r.fail(`${base}.${keyOf(tp, 'accountKey')}`, 'accountKey completes a connectionString; give connectionString too');
  }
  if (has('sasToken') && !has('sasUri')) {
    r.fail(`${base}.${keyOf(tp, 'sasToken')}`, 'sasToken completes a sasUri; give sasUri too');
  }
  if (sasUri && !sasUri.keyVault) {
    const v = sasUri.reveal();
    if (/^https?:\/\/[^/]+/i.test(v)) checkScheme(r, v.split('?')[0], `${base}.${keyOf(tp, 'sasUri')}`, 'sasUri');
    if (!/^https?:\/\/[^/]+/i.test(v)) r.fail(`${base}.${keyOf(tp, 'sasUri')}`, 'must be an http(s) URL with a SAS');
    else if (!v.includes('?') && !sasToken) {
      r.fail(`${base}.${keyOf(tp, 'sasUri')}`, 'has no SAS token (no ?sv=...); add it or give sasToken');
    }
  }
  if (connectionString && !connectionString.keyVault) {
    const v = connectionString.reveal();
    const csPath = `${base}.${keyOf(tp, 'connectionString')}`;
    const parts = connectionStringParts(v);
    for (const [k, value] of parts) {
      // Portal samples and templates ship `AccountName=[unique];AccountKey=[key]`: placeholders, not values.
      if (PLACEHOLDER.test(value.trim()) || isMasked(value.trim())) {
        r.fail(
          csPath,
          `holds a placeholder in ${k} (${k === 'AccountKey' ? 'the key' : value}); supply the real value`,
        );
      }
    }
    const blobEndpoint = parts.get('BlobEndpoint');
    const protocol = parts.get('DefaultEndpointsProtocol');
    if (blobEndpoint) checkScheme(r, blobEndpoint, csPath, 'BlobEndpoint');
    else if (protocol?.toLowerCase() === 'http' && parts.get('AccountName')) {
      checkScheme(
        r,
        `http://${parts.get('AccountName')}.blob.${parts.get('EndpointSuffix') ?? 'core.windows.net'}`,
        csPath,
        'storage endpoint (DefaultEndpointsProtocol=http)',
      );
    }
    if (!/AccountName=|UseDevelopmentStorage=true|BlobEndpoint=/i.test(v)) {
      r.fail(
        `${base}.${keyOf(tp, 'connectionString')}`,
        'is not a storage connection string (no AccountName or BlobEndpoint)',
      );
    } else if (!/AccountKey=|SharedAccessSignature=|UseDevelopmentStorage=true/i.test(v) && !accountKey) {
      r.fail(
        `${base}.${keyOf(tp, 'connectionString')}`,
        'has neither AccountKey nor SharedAccessSignature; add one, or give accountKey',
      );
    }
  }
  if (!name || !(connectionString || sasUri)) return undefined;
  return { kind: 'Storage', type, name, file, connectionString, accountKey, sasUri, sasToken };
}

/** `k=v;k=v` parts of a storage connection string, keys in their canonical case. */
function connectionStringParts(cs: string): Map<string, string> {
  const canonical = [
    'DefaultEndpointsProtocol',
    'AccountName',
    'AccountKey',
    'BlobEndpoint',
    'EndpointSuffix',
    'SharedAccessSignature',
    'UseDevelopmentStorage',
  ];
  const out = new Map<string, string>();
  for (const part of cs.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const k = part.slice(0, eq).trim();
    out.set(canonical.find((c) => c.toLowerCase() === k.toLowerCase()) ?? k, part.slice(eq + 1));
  }
  return out;
}

/** Every Secret of a linked service (for Key Vault resolution and reference checks). */
export function secretsOf(ls: LinkedService): { field: string; secret: Secret }[] {
  const out: { field: string; secret: Secret }[] = [];
  const add = (field: string, s: Secret | undefined) => s && out.push({ field, secret: s });
  if (ls.kind === 'AzureML') {
    add('apiKey', ls.apiKey);
    add('servicePrincipalKey', ls.servicePrincipalKey);
  } else if (ls.kind === 'Storage') {
    add('connectionString', ls.connectionString);
    add('accountKey', ls.accountKey);
    add('sasUri', ls.sasUri);
    add('sasToken', ls.sasToken);
  }
  return out;
}

export async function listJson(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((f) => f.toLowerCase().endsWith('.json')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw e;
  }
}

/** Line and column of a JSON.parse error, when Node reports a position. */
function jsonErrorWhere(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  if (!m) return '';
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - before.lastIndexOf('\n');
  return ` (line ${line}, column ${col})`;
}

/**
 * How deeply a definition file may nest. ADF's own definitions stay under a dozen levels; the bound keeps every
 * recursive walk of the product (validation, expression evaluation, payload conversion) far from the stack limit.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Problems JSON.parse lets through: nesting deeper than MAX_JSON_DEPTH, and a `__proto__` key, which JavaScript
 * objects cannot keep as data (an assignment would replace the prototype and the key would silently vanish).
 * Iterative, so a 100,000-level file is judged without recursion. Returns the first problem with its JSON path.
 */
export function jsonShapeProblem(raw: unknown): { path: string; message: string } | undefined {
  const stack: { v: unknown; path: string; depth: number }[] = [{ v: raw, path: '$', depth: 0 }];
  while (stack.length) {
    const { v, path, depth } = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= MAX_JSON_DEPTH) {
      return { path, message: `nests deeper than ${MAX_JSON_DEPTH} levels; ADF definitions never need that many` };
    }
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: `${path}[${i}]`, depth: depth + 1 });
      continue;
    }
    for (const k of Object.keys(v)) {
      const p = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? `${path}.${k}` : `${path}['${k}']`;
      if (k === '__proto__') {
        return { path: p, message: "the key '__proto__' is reserved (it cannot be kept as data); rename it" };
      }
      stack.push({ v: (v as Record<string, unknown>)[k], path: p, depth: depth + 1 });
    }
  }
  return undefined;
}

/** A readJsonFile error as a diagnostic of `file`, at the JSON path its message names (`$` when none). */
export function reportReadError(d: Diagnostics, file: string, e: unknown): void {
  const rest = (e as Error).message.replace(`${file}: `, '');
  const m = /^(\$[^:]*): (.*)$/s.exec(rest);
  if (m) d.error(file, m[1], m[2]);
  else d.error(file, '$', rest);
}

export async function readJsonFile(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text.replace(/^\uFEFF/, '')) as unknown;
  } catch (e) {
    const msg = (e as Error).message;
    throw new ConfigError(`${path}: not valid JSON${jsonErrorWhere(text, msg)}: ${msg}`);
  }
  const shape = jsonShapeProblem(raw);
  if (shape) throw new ConfigError(`${path}: ${shape.path}: ${shape.message}`);
  return raw;
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
