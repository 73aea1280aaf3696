import { isMasked } from '../../common/pipeline-definition';
import type { JsonObject } from '../json';
import { keyOf, prop, str } from '../json';
import { Secret } from '../secret';
import { checkScheme } from './endpoints';
import type { FieldReader } from './fields';
import { PLACEHOLDER } from './fields';
import type { StorageLinkedService } from './types';

/**
 * AzureStorage / AzureBlobStorage linked services: the connection-string and SAS forms BES and the update can use,
 * and why the others cannot (docs/spec/adf-pipeline-semantics.md §2.3).
 */
export function parseStorage(
  r: FieldReader,
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
