import { isRecord } from '../http';

// The ARM web service resource as stored (2017-01-01 shape) and as each API version reads and writes it.

export const ARM_API_VERSIONS = ['2016-05-01-preview', '2017-01-01'];
export const WEB_SERVICE_TYPE = 'Microsoft.MachineLearning/webServices';
const PREVIEW = '2016-05-01-preview';

/** ARM location segment for a display name: "South Central US" → "southcentralus". */
export function locationSegment(location: string): string {
  return location.replace(/\s+/g, '').toLowerCase();
}

export function armResourceId(subscriptionId: string, resourceGroup: string, name: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.MachineLearning/webServices/${name}`;
}

/** Merge-patch of plain objects (null deletes, arrays and scalars replace), the usual ARM PATCH reading (docs/spec/ml-studio-classic-api.md §4.5 [I]). */
export function deepMerge(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...target };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (isRecord(v) && isRecord(out[k])) out[k] = deepMerge(out[k], v);
    else out[k] = v;
  }
  return out;
}

/** 2016-05-01-preview has string maps where 2017-01-01 has `{value, certificateThumbprint}` (docs/spec/ml-studio-classic-api.md §4.4). */
function paramsToPreview(params: unknown): unknown {
  if (!isRecord(params)) return params;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) out[k] = isRecord(v) && 'value' in v ? v.value : v;
  return out;
}

function paramsFromPreview(params: unknown): unknown {
  if (!isRecord(params)) return params;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) out[k] = isRecord(v) ? v : { value: v };
  return out;
}

function mapPackageNodes(pkg: unknown, fn: (p: unknown) => unknown): unknown {
  if (!isRecord(pkg) || !isRecord(pkg.nodes)) return pkg;
  const nodes: Record<string, unknown> = {};
  for (const [k, node] of Object.entries(pkg.nodes)) {
    nodes[k] = isRecord(node) && node.parameters !== undefined ? { ...node, parameters: fn(node.parameters) } : node;
  }
  return { ...pkg, nodes };
}

/** Bring a request's properties to the stored 2017-01-01 shape. */
export function upConvert(props: Record<string, unknown>, apiVersion: string): Record<string, unknown> {
  if (apiVersion !== PREVIEW) return props;
  const out = { ...props };
  if (out.parameters !== undefined) out.parameters = paramsFromPreview(out.parameters);
  if (out.package !== undefined) out.package = mapPackageNodes(out.package, paramsFromPreview);
  return out;
}

export function downConvert(props: Record<string, unknown>, apiVersion: string): Record<string, unknown> {
  if (apiVersion !== PREVIEW) return props;
  const out = { ...props };
  delete out.payloadsInBlobStorage;
  delete out.payloadsLocation;
  if (out.parameters !== undefined) out.parameters = paramsToPreview(out.parameters);
  if (out.package !== undefined) out.package = mapPackageNodes(out.package, paramsToPreview);
  return out;
}
