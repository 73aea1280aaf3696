import { hiddenCharacterProblem } from '../../common/paths';
import { Diagnostics, formatDiagnostic } from '../diagnostics';
import { isObject, keyOf, prop } from '../json';
import type { Secret } from '../secret';
import { apiVersionOf, ARM_API_VERSIONS, ARM_WEB_SERVICE, BES_API_VERSION, checkScheme } from './endpoints';
import { FieldReader } from './fields';
import { parseStorage } from './storage';
import type { LinkedService } from './types';

/** One linked-service file → a LinkedService, with every problem reported as file + JSON path. */

/** ADF naming rules for linked services (docs/spec/adf-pipeline-semantics.md §3.1): letters, digits, `_`, no `-` and none of `. + ? / < > * % & : \`. */
export function linkedServiceNameProblem(name: string): string | undefined {
  const hidden = hiddenCharacterProblem(name);
  if (hidden) return hidden;
  if (name.length > 260) return 'is longer than 260 characters';
  if (!/^[A-Za-z0-9_]/.test(name)) return 'must start with a letter, a digit or an underscore';
  if (/[-.+?/<>*%&:\\]/.test(name)) return "must not contain '-' or any of . + ? / < > * % & : \\ (ADF naming rules)";
  return undefined;
}

export interface ParsedLinkedService {
  service?: LinkedService;
  /** Errors as `file: path: message` lines. */
  problems: string[];
  diagnostics: Diagnostics;
}

export function parseLinkedService(file: string, raw: unknown, diagnostics = new Diagnostics()): ParsedLinkedService {
  const r = new FieldReader(file, diagnostics);
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
